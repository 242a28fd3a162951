"""The comparison experiment behind ``backtests/run.py``: train, backtest, aggregate, write."""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from maml_strategy.backtest.metrics import METRIC_KEYS
from maml_strategy.backtest.periods import Period
from maml_strategy.backtest.report import plot_report
from maml_strategy.backtest.runner import BacktestResult, run_backtest
from maml_strategy.backtest.train import train_models
from maml_strategy.config import StrategyConfig

__all__ = ["STRATEGY_ORDER", "ExperimentResult", "run_experiment", "format_comparisons", "format_table", "write_outputs"]

log = logging.getLogger(__name__)
STRATEGY_ORDER = ("maml", "static", "naive_finetune", "buy_and_hold")


@dataclass
class ExperimentResult:
    """Everything ``run.py`` prints and writes."""

    symbol: str
    period: Period
    seeds: list[int]
    runs: dict[str, list[BacktestResult]] = field(default_factory=dict)  # strategy -> one result per seed
    training: list[dict[str, Any]] = field(default_factory=list)  # per seed: cache key, cached, seconds
    models: dict[int, Any] = field(default_factory=dict)  # seed -> TrainedModels (not serialised in summary)

    def summary(self) -> dict[str, Any]:
        """The ``summary.json`` document (schema in the README)."""
        out: dict[str, Any] = {"period": self.period.name, "symbol": self.symbol, **self.period.to_dict(),
                               "seeds": self.seeds, "strategies": {}, "training": self.training}
        for name, results in self.runs.items():
            per_seed = [r.metrics for r in results]
            agg: dict[str, Any] = {}
            for key in (*METRIC_KEYS, "transitions"):
                vals = [m.get(key) for m in per_seed if m.get(key) is not None]
                agg[key] = float(np.mean(vals)) if vals else None
                agg[f"{key}_std"] = float(np.std(vals)) if len(vals) > 1 else (0.0 if vals else None)
            agg["per_seed"] = per_seed
            out["strategies"][name] = agg
        out["comparisons"] = self.comparisons()
        return out

    def comparisons(self) -> dict[str, dict[str, Any]]:
        """Paired per-seed differences: MAML minus each baseline (same seed, same test bars).

        For ``total_return`` and ``sharpe``: the mean difference and in how many
        seeds MAML was ahead. With few seeds and one test year this is
        descriptive, not a significance test.
        """
        out: dict[str, dict[str, Any]] = {}
        maml = self.runs.get("maml", [])
        for other in ("static", "naive_finetune", "buy_and_hold"):
            rows = self.runs.get(other, [])
            if not maml or len(rows) != len(maml):
                continue
            cmp: dict[str, Any] = {}
            for key in ("total_return", "sharpe", "max_drawdown"):
                diffs = [a.metrics[key] - b.metrics[key] for a, b in zip(maml, rows)
                         if a.metrics.get(key) is not None and b.metrics.get(key) is not None]
                better = [d < 0 if key == "max_drawdown" else d > 0 for d in diffs]
                cmp[key] = {"mean_diff": float(np.mean(diffs)) if diffs else None,
                            "maml_better_seeds": int(sum(better)), "seeds": len(diffs)}
            out[f"maml_vs_{other}"] = cmp
        return out


def run_experiment(
    df: pd.DataFrame,
    cfg: StrategyConfig,
    period: Period,
    *,
    symbol: str,
    seeds: list[int],
    cache_dir: str | Path | None = "backtests/cache",
    progress: bool = True,
) -> ExperimentResult:
    """Train on the training window, then backtest all four strategies per seed.

    Buy-and-hold does not depend on the seed; it is run once and repeated per seed.
    """
    res = ExperimentResult(symbol, period, list(seeds), {k: [] for k in STRATEGY_ORDER})
    bh = run_backtest(df, "buy_and_hold", cfg, period.test_start, period.test_end)
    for seed in seeds:
        t0 = time.perf_counter()
        models = train_models(df, cfg, period, seed=seed, cache_dir=cache_dir, progress=progress)
        res.training.append({"seed": seed, "cache_key": models.key, "cached": models.cached,
                             "seconds": round(time.perf_counter() - t0, 2)})
        res.models[seed] = models
        steps, lr = models.maml.config.inner_steps, models.maml.config.inner_lr
        res.runs["maml"].append(run_backtest(df, "maml", cfg, period.test_start, period.test_end,
                                             model=models.maml, adapt_steps=steps, adapt_lr=lr))
        res.runs["static"].append(run_backtest(df, "static", cfg, period.test_start, period.test_end,
                                               model=models.static))
        res.runs["naive_finetune"].append(run_backtest(df, "naive_finetune", cfg, period.test_start, period.test_end,
                                                       model=models.static, adapt_steps=steps, adapt_lr=lr))
        res.runs["buy_and_hold"].append(bh)
    return res


_COUNTS = {"trades", "adaptations"}


def _fmt(mean: Any, std: Any, pct: bool, nseeds: int, count: bool = False) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "n/a"
    scale = 100.0 if pct else 1.0
    if count:
        body = f"{mean:.1f}" if nseeds > 1 and mean != int(mean) else f"{int(round(mean))}"
    else:
        body = f"{mean * scale:.1f}%" if pct else f"{mean:.2f}"
    if nseeds > 1 and std is not None and abs(std) > 1e-9:
        body += f" ±{std * scale:.1f}" if pct else f" ±{std:.2f}"
    return body


_COLUMNS = [
    ("total_return", "Return", True), ("cagr", "CAGR", True), ("sharpe", "Sharpe", False),
    ("sortino", "Sortino", False), ("max_drawdown", "MaxDD", True), ("calmar", "Calmar", False),
    ("trades", "Trades", False), ("exposure", "Exposure", True), ("turnover", "Turnover", False),
    ("adaptations", "Adapts", False), ("post_transition_return", "Ret20|trans", True),
    ("post_transition_worst_drawdown", "WorstDD20|trans", True),
]


def format_comparisons(summary: dict[str, Any]) -> str:
    """One line per baseline: paired MAML-minus-baseline differences across seeds."""
    lines = []
    for name, cmp in summary.get("comparisons", {}).items():
        r, sh, dd = cmp["total_return"], cmp["sharpe"], cmp["max_drawdown"]
        if r["mean_diff"] is None:
            continue
        sharpe = "n/a" if sh["mean_diff"] is None else f"{sh['mean_diff']:+.2f}"
        lines.append(
            f"{name}: return {r['mean_diff'] * 100:+.1f} pp (MAML ahead in {r['maml_better_seeds']}/{r['seeds']} seeds), "
            f"Sharpe {sharpe} ({sh['maml_better_seeds']}/{sh['seeds']}), "
            f"max drawdown {dd['mean_diff'] * 100:+.1f} pp (lower in {dd['maml_better_seeds']}/{dd['seeds']})"
        )
    return "\n".join(lines)


def format_table(summary: dict[str, Any]) -> str:
    """Markdown table of mean ± std across seeds."""
    n = len(summary["seeds"])
    head = "| strategy | " + " | ".join(c[1] for c in _COLUMNS) + " |"
    sep = "|---" * (len(_COLUMNS) + 1) + "|"
    rows = [head, sep]
    for name, s in summary["strategies"].items():
        cells = [_fmt(s.get(k), s.get(f"{k}_std"), pct, n, k in _COUNTS) for k, _, pct in _COLUMNS]
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def write_outputs(res: ExperimentResult, out: str | Path) -> dict[str, Path]:
    """Write ``summary.json``, ``equity.csv``, ``trades.csv``, ``adaptations.csv``, ``report.png``,
    and the first seed's models as ``maml.pt`` / ``static.pt`` (for drop-in use and paper trading)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    summary = res.summary()
    paths = {"summary": out / "summary.json", "equity": out / "equity.csv", "trades": out / "trades.csv",
             "adaptations": out / "adaptations.csv", "report": out / "report.png"}
    paths["summary"].write_text(json.dumps(summary, indent=2, default=str))
    eq_cols, mean_cols, trades, adapts = {}, {}, [], []
    for name, results in res.runs.items():
        for seed, r in zip(res.seeds, results):
            eq_cols[f"{name}_seed{seed}"] = r.equity
            if len(r.fills):
                trades.append(r.fills.assign(strategy=name, seed=seed))
            adapts.extend({"strategy": name, "seed": seed, **a} for a in r.adaptations)
        mean_cols[name] = pd.concat([r.equity for r in results], axis=1).mean(axis=1)
    equity = pd.DataFrame(eq_cols)
    equity.index.name = "date"
    equity.to_csv(paths["equity"])
    cols = ["strategy", "seed", "date", "side", "size", "price", "value", "commission"]
    (pd.concat(trades)[cols] if trades else pd.DataFrame(columns=cols)).to_csv(paths["trades"], index=False)
    pd.DataFrame(adapts).to_csv(paths["adaptations"], index=False)
    regimes = res.runs["buy_and_hold"][0].decisions["regime"]
    title = (f"{res.symbol} {res.period.test_start.date()}..{res.period.test_end.date()} "
             f"(trained {res.period.train_start.date()}..{res.period.train_end.date()}, seeds={len(res.seeds)})")
    plot_report(pd.DataFrame(mean_cols), regimes, paths["report"], title)
    if res.models:
        first = res.models[min(res.models)]
        paths["maml_model"], paths["static_model"] = out / "maml.pt", out / "static.pt"
        first.maml.save(paths["maml_model"])
        first.static.save(paths["static_model"])
    return paths
