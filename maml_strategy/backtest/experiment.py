"""The comparison experiment behind ``backtests/run.py``: train, backtest, aggregate, write."""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from maml_strategy.atomic import atomic_path, atomic_write, output_errors
from maml_strategy.backtest.metrics import METRIC_KEYS
from maml_strategy.backtest.periods import Period
from maml_strategy.backtest.report import plot_monthly_heatmap, plot_report
from maml_strategy.backtest.runner import BacktestResult
from maml_strategy.backtest.suite import run_suite
from maml_strategy.backtest.train import train_models
from maml_strategy.config import KINDS, StrategyConfig, kinds
from maml_strategy.dataset import symbol_features

__all__ = ["TABLE_LEGEND", "ExperimentResult", "run_experiment", "format_comparisons", "format_skill",
           "format_table", "write_outputs"]

log = logging.getLogger(__name__)


@dataclass
class ExperimentResult:
    """Everything ``run.py`` prints and writes."""

    symbol: str
    period: Period
    seeds: list[int]
    runs: dict[str, list[BacktestResult]] = field(default_factory=dict)  # strategy -> one result per seed
    training: list[dict[str, Any]] = field(default_factory=list)  # per seed: cache key, cached, seconds
    models: dict[int, Any] = field(default_factory=dict)  # seed -> TrainedModels (not serialised in summary)
    skill: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # model -> skill_scores per seed
    price_basis: str = "total"
    train_symbols: list[str] = field(default_factory=list)
    horizon: int = 5  # the label's horizon (cfg.features.horizon): overlapping labels in the IC interval

    def summary(self) -> dict[str, Any]:
        """The ``summary.json`` document (schema in the README)."""
        out: dict[str, Any] = {"period": self.period.name, "symbol": self.symbol, "price_basis": self.price_basis,
                               "train_universe": self.train_symbols, **self.period.to_dict(),
                               "seeds": self.seeds, "strategies": {}, "training": self.training}
        for name, results in self.runs.items():
            per_seed = [r.metrics for r in results]
            agg: dict[str, Any] = {}
            for key in (*METRIC_KEYS, "alpha", "beta", "transitions"):
                vals = [m.get(key) for m in per_seed if m.get(key) is not None]
                agg[key] = float(np.mean(vals)) if vals else None
                agg[f"{key}_std"] = float(np.std(vals)) if len(vals) > 1 else (0.0 if vals else None)
            agg["per_seed"] = per_seed
            out["strategies"][name] = agg
        out["comparisons"] = self.comparisons()
        out["skill"] = {m: _skill_summary(v, self.horizon) for m, v in self.skill.items()}
        return out

    def comparisons(self) -> dict[str, dict[str, Any]]:
        """Paired per-seed differences: MAML minus each other strategy (same seed, same test bars).

        For ``total_return`` and ``sharpe``: the mean difference and in how many
        seeds MAML was ahead. With few seeds and one test year this is
        descriptive, not a significance test (the walk-forward gives intervals).
        """
        out: dict[str, dict[str, Any]] = {}
        maml = self.runs.get("maml", [])
        for other, rows in self.runs.items():
            if other == "maml" or not maml or len(rows) != len(maml):
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


def _skill_summary(per_seed: list[dict[str, Any]], horizon: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("ic", "hit_rate", "rel_mse"):
        vals = [s[key] for s in per_seed if s.get(key) is not None]
        out[key] = float(np.mean(vals)) if vals else None
        out[f"{key}_std"] = float(np.std(vals)) if len(vals) > 1 else None
    n = [s.get("n", 0) for s in per_seed]
    out["bars"] = int(np.mean(n)) if n else 0
    ic, bars = out["ic"], out["bars"]
    if ic is not None and bars > 3:
        # Fisher-z interval with overlapping labels counted once per horizon (effective n = bars / horizon)
        half = 1.96 / math.sqrt(max(bars / float(horizon) - 3.0, 1.0))
        z = math.atanh(max(min(ic, 0.999), -0.999))
        out["ic_ci95"] = [math.tanh(z - half), math.tanh(z + half)]
        out["measurable_skill"] = bool(out["ic_ci95"][0] > 0 or out["ic_ci95"][1] < 0)
    out["per_seed"] = per_seed
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
    train_frames: dict[str, pd.DataFrame] | None = None,
    price_basis: str = "total",
    say: Callable[[str], None] | None = None,
) -> ExperimentResult:
    """Train on the training window, then backtest every strategy per seed on ``symbol``.

    Args:
        df: the test symbol's frame (with history before the test window).
        cfg: strategy configuration.
        period: train/validation/test windows.
        symbol: the test symbol's name.
        seeds: training seeds.
        cache_dir: trained-model cache (None disables).
        progress: tqdm bars during training.
        train_frames: the training universe ``{symbol: frame}`` (default: ``{symbol: df}``).
        price_basis: recorded in the summary (the frames must already be on it).
        say: callback for stage lines.

    Seed-independent controls (regime_rule, sma200, buy_and_hold) run once and are repeated per seed.
    """
    say = say or (lambda _msg: None)
    train = train_frames if train_frames is not None else {symbol: df}
    res = ExperimentResult(symbol, period, list(seeds), {k: [] for k in KINDS}, price_basis=price_basis,
                           train_symbols=sorted(train), horizon=cfg.features.horizon)
    say(f"features: {symbol} {df.index[0].date()}..{df.index[-1].date()}")
    sf = symbol_features(df.loc[: period.test_end], cfg, symbol)
    seedless = run_suite(df, sf, cfg, period.test_start, period.test_end, models=None, kinds=kinds(seedless=True))
    for kind, r in seedless.results.items():
        say(f"backtest {kind}: return {r.metrics['total_return'] * 100:+.1f}%")
    for seed in seeds:
        t0 = time.perf_counter()
        models = train_models(train, cfg, period, seed=seed, cache_dir=cache_dir, progress=progress, say=say)
        res.training.append({"seed": seed, "cache_key": models.key, "cached": models.cached,
                             "seconds": round(time.perf_counter() - t0, 2)})
        res.models[seed] = models
        suite = run_suite(df, sf, cfg, period.test_start, period.test_end, models=models, seed=seed,
                          kinds=kinds(seedless=False))
        for kind in KINDS:
            r = suite.results.get(kind) or seedless.results.get(kind)
            if r is not None:
                res.runs[kind].append(r)
                if not KINDS[kind].seedless:
                    say(f"backtest {kind} (seed {seed}): return {r.metrics['total_return'] * 100:+.1f}%")
        for model, sc in suite.skill.items():
            res.skill.setdefault(model, []).append(sc)
    res.runs = {k: v for k, v in res.runs.items() if v}
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
    ("total_return", "Return", True), ("sharpe", "Sharpe", False), ("alpha", "Alpha vs B&H", True),
    ("beta", "Beta", False), ("max_drawdown", "MaxDD", True),
    ("calmar", "Calmar", False), ("trades", "Trades", False), ("exposure", "Exposure", True),
    ("exposure_bear_high_vol", "Exp bear-hv", True), ("exposure_other_regimes", "Exp other", True),
    ("turnover", "Turnover", False), ("adaptations", "Adapts", False),
    ("post_transition_return", "Ret 20d after trans", True),
]

#: one line per column of the printed table
TABLE_LEGEND = (
    "Return: total return over the test window (price basis in the header). Sharpe: daily, annualised, rf = 0. "
    "Alpha vs B&H / Beta: OLS of the strategy's daily returns on buy-and-hold's (alpha annualised). "
    "MaxDD: largest peak-to-trough fall. Calmar: CAGR / MaxDD. Trades: fills. Exposure: mean |position| / value; "
    "Exp bear-hv / Exp other: the same on bear/high-volatility bars and on all other bars. Turnover: traded value / "
    "mean value. Adapts: model adaptations. Ret 20d after trans: mean return over the 20 bars after each confirmed "
    "regime transition. ± is the std across seeds. exposure_matched is a diagnostic: a constant mix at MAML's "
    "realised exposure in the same window."
)


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


def format_skill(summary: dict[str, Any]) -> str:
    """Markdown table of each model's skill on the test bars (mean over seeds)."""
    rows = ["| model | IC (95% CI) | hit rate | MSE / MSE(0) | skill |", "|---|---|---|---|---|"]
    for name, s in summary.get("skill", {}).items():
        ic = "n/a" if s.get("ic") is None else f"{s['ic']:+.3f}"
        if s.get("ic_ci95"):
            ic += f" ({s['ic_ci95'][0]:+.3f}, {s['ic_ci95'][1]:+.3f})"
        hit = "n/a" if s.get("hit_rate") is None else f"{s['hit_rate'] * 100:.1f}%"
        rel = "n/a" if s.get("rel_mse") is None else f"{s['rel_mse']:.3f}"
        verdict = "measurable" if s.get("measurable_skill") else "none measurable"
        rows.append(f"| {name} | {ic} | {hit} | {rel} | {verdict} |")
    return "\n".join(rows)


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


@output_errors("the experiment outputs")  # OSError (disk full, read-only, permission) -> one OutputError
def write_outputs(res: ExperimentResult, out: str | Path, *, tearsheet: bool = False) -> dict[str, Path]:
    """Write ``summary.json``, ``equity.csv``, ``trades.csv``, ``adaptations.csv``, ``report.png``,
    ``monthly_returns.png``, the first seed's models as ``maml.pt`` / ``static.pt`` (for drop-in use and
    paper trading) and, with ``tearsheet=True``, ``tearsheet.html`` (MAML against buy-and-hold, seed 0)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    summary = res.summary()
    paths = {"summary": out / "summary.json", "equity": out / "equity.csv", "trades": out / "trades.csv",
             "adaptations": out / "adaptations.csv", "report": out / "report.png"}
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
    with atomic_path(paths["equity"]) as tmp:  # every file atomic; summary.json last
        equity.to_csv(tmp)
    cols = ["strategy", "seed", "date", "side", "size", "price", "value", "commission"]
    with atomic_path(paths["trades"]) as tmp:
        (pd.concat(trades)[cols] if trades else pd.DataFrame(columns=cols)).to_csv(tmp, index=False)
    with atomic_path(paths["adaptations"]) as tmp:
        pd.DataFrame(adapts).to_csv(tmp, index=False)
    regimes = res.runs["buy_and_hold"][0].decisions["regime"]
    title = (f"{res.symbol} {res.period.test_start.date()}..{res.period.test_end.date()} "
             f"(trained {res.period.train_start.date()}..{res.period.train_end.date()}, seeds={len(res.seeds)})")
    first_seed = {name: results[0] for name, results in res.runs.items()}
    adaptations = {name: [pd.Timestamp(a["date"]) for a in r.adaptations] for name, r in first_seed.items()
                   if r.adaptations}
    with atomic_path(paths["report"]) as tmp:
        plot_report(pd.DataFrame(mean_cols), regimes, tmp, title + f", {res.price_basis} return",
                    adaptations=adaptations, start_value=first_seed["buy_and_hold"].metrics.get("start_value"))
    returns = {name: r.daily_returns for name, r in first_seed.items()}
    paths["monthly"] = out / "monthly_returns.png"
    with atomic_path(paths["monthly"]) as tmp:
        plot_monthly_heatmap(returns, tmp, title=f"Monthly returns, {res.symbol} (seed {res.seeds[0]})")
    if tearsheet and "maml" in returns:
        from maml_strategy.backtest.tearsheet import write_tearsheet

        paths["tearsheet"] = out / "tearsheet.html"
        with atomic_path(paths["tearsheet"]) as tmp:
            write_tearsheet(returns["maml"], returns["buy_and_hold"], tmp,
                            f"MAML vs buy-and-hold, {res.symbol} {res.period.test_start.year} (seed {res.seeds[0]})",
                            strategy_name="maml", benchmark_name="buy_and_hold")
    if res.models:
        first = res.models[min(res.models)]
        paths["maml_model"], paths["static_model"] = out / "maml.pt", out / "static.pt"
        with atomic_path(paths["maml_model"]) as tmp:
            first.maml.save(tmp)
        with atomic_path(paths["static_model"]) as tmp:
            first.static.save(tmp)
    atomic_write(paths["summary"], json.dumps(summary, indent=2, default=str))  # last: never a partial summary
    return paths
