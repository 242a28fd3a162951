"""Portfolio walk-forward: per test year and seed, one :class:`~maml_strategy.portfolio.PortfolioStrategy`
backtest per model and per factor, plus the equal-weight universe rebalanced on the same days.

The models are the walk-forward's own: training runs through
:func:`~maml_strategy.backtest.walkforward.train_task` (same cache entries, so a symbol-mode run
and a portfolio run over the same universe and windows train once). Task layout, each a plain
function run by an :mod:`~maml_strategy.backtest.executors` executor (local or Ray, identical
results):

* one training task per (training window, seed), as in symbol mode;
* one portfolio task per (year, seed, model) and per (year, factor) and (year, ``equal_weight``)
  (factors and the benchmark do not depend on the seed); each cached as a JSON entry
  (:mod:`maml_strategy.atomic`), keyed by every symbol's bars up to the year's end, the config,
  the portfolio settings, the model key and the code, so a killed run resumes.

Each symbol keeps its own regime detector and adaptation state (one ``SignalEngine`` per
symbol over its precomputed features), warmed up exactly as a single-symbol backtest: the
support window, from before the last confirmed transition for adapting models.

Example:
    >>> res = run_portfolio_walk_forward(plan, cfg, TopkConfig(top_k=3), executor=LocalExecutor(),
    ...                                  cache_dir="cache")  # doctest: +SKIP
    >>> portfolio_section(res["runs"])["maml"]["excess_return"]  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from maml_strategy.atomic import read_json_entry, write_json_entry
from maml_strategy.backtest.portfolio_stats import BENCHMARK, yearly_metrics
from maml_strategy.backtest.walkforward import WalkForwardPlan, cached_symbol_features, train_task, window_period
from maml_strategy.config import StrategyConfig, config_to_dict
from maml_strategy.features.factors import FACTORS, factor_history
from maml_strategy.topk import TopkConfig

__all__ = ["PORTFOLIO_MODELS", "portfolio_kinds", "portfolio_task", "run_portfolio_walk_forward"]

#: learned entries of the portfolio section (gbdt only when LightGBM is installed)
PORTFOLIO_MODELS = ("maml", "static", "naive_finetune", "gbdt")
_ADAPTING = ("maml", "naive_finetune")


def portfolio_kinds() -> tuple[str, ...]:
    """Every entry run: the models (gbdt when LightGBM is installed), the factors, then ``equal_weight``.

    Example:
        >>> portfolio_kinds()[-3:]
        ('reversal', 'momentum', 'equal_weight')
    """
    models = tuple(m for m in PORTFOLIO_MODELS if m != "gbdt" or importlib.util.find_spec("lightgbm") is not None)
    return (*models, *FACTORS, BENCHMARK)


def _hash(*parts: Any) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p if isinstance(p, bytes) else json.dumps(p, sort_keys=True, default=str).encode())
    return h.hexdigest()[:20]


def _digest(df: pd.DataFrame) -> bytes:
    cols = np.ascontiguousarray(df[["open", "high", "low", "close", "volume"]].to_numpy())
    return hashlib.sha256(cols.tobytes() + np.asarray(df.index.asi8).tobytes()).digest()


def _learner_args(kind: str, models: Any, cfg: StrategyConfig) -> tuple[Any, bool, int | None, int | None]:
    """(learner, adapt, steps, lr) of a learned kind, as the single-symbol suite trades it."""
    learner = {"maml": models.maml, "static": models.static, "naive_finetune": models.static,
               "gbdt": models.gbdt}[kind]
    steps = lr = None
    if kind in _ADAPTING and models.maml is not None:
        steps = cfg.trading.adapt_steps if cfg.trading.adapt_steps is not None else models.maml.config.inner_steps
        lr = cfg.trading.adapt_lr if cfg.trading.adapt_lr is not None else models.maml.config.inner_lr
    return learner, kind in _ADAPTING, steps, lr


def portfolio_task(refs: Sequence[tuple[str, str | None]], adjust: str, end: str | None, year: int, seed: int,
                   kind: str, cfg: StrategyConfig, topk: TopkConfig, cache_dir: str, model_folder: str | None,
                   model_key: str) -> dict[str, Any]:
    """One portfolio backtest (``kind``: a model, a factor or ``equal_weight``) over test year ``year``.

    Returns:
        ``{"kind", "year", "seed", "dates", "returns", "equity", "total_return", "max_drawdown", "turnover",
        "trades", "commission", "rejected", "rebalances", "mean_names", "symbols", "skipped", "cached"}``
        (``returns`` None and ``skipped`` set when the model is missing).
    """
    from maml_strategy.backtest.runner import _adaptive_warmup, warmup_bars
    from maml_strategy.backtest.train import _code_hash, load_trained
    from maml_strategy.engine import Precomputed
    from maml_strategy.learner import apply_num_threads
    from maml_strategy.portfolio import run_portfolio

    apply_num_threads(cfg.maml.num_threads)
    period = window_period(year, 1)
    start, stop = period.test_start, period.test_end
    loaded = [(ref[0], *cached_symbol_features(ref, adjust, end, cfg, cache_dir)) for ref in refs]
    loaded = [(s, df, sf) for s, df, sf in loaded if len(df.loc[start:stop])]
    key = _hash("pf", kind, year, seed, model_key, [(s, _digest(df.loc[:stop])) for s, df, _ in loaded],
                config_to_dict(cfg), dataclasses.asdict(topk), _code_hash(backtests=True))
    path = Path(cache_dir) / "portfolio" / f"{kind}-{year}-{seed}-{key}.json"
    out = read_json_entry(path)
    if out is not None:
        out["cached"] = True
        return out
    out = {"kind": kind, "year": year, "seed": seed, "returns": None, "skipped": None,
           "symbols": [s for s, _, _ in loaded]}
    frames = {s: df for s, df, _ in loaded}
    params: dict[str, Any] = {"top_k": topk.top_k, "n_drop": topk.n_drop, "rebalance": topk.rebalance,
                              "weighting": topk.weighting, "allow_short": topk.allow_short,
                              "max_exposure": topk.max_exposure}
    warm: dict[str, int] = {}
    if kind in PORTFOLIO_MODELS:
        models = load_trained(model_folder, model_key) if model_folder else None
        learner, adapt, steps, lr = _learner_args(kind, models, cfg) if models is not None else (None, False, None, None)
        if learner is None:
            out["skipped"] = f"no {kind} model in {model_folder}"
            write_json_entry(path, out)
            out["cached"] = False
            return out
        n_warm = warmup_bars(cfg, kind, precomputed=True)
        pre = {}
        for s, df, sf in loaded:
            p = Precomputed.from_symbol_features(sf)
            before = df.loc[: start - pd.Timedelta(days=1)]
            warm[s] = _adaptive_warmup(before, cfg, min(n_warm, len(before)), p) if adapt else n_warm
            first = before.index[max(len(before) - warm[s], 0)] if len(before) else df.loc[start:].index[0]
            pre[s] = p.window(first, stop)
        params.update(model=learner, adapt=adapt, adapt_steps=steps, adapt_lr=lr, precomputed=pre)
    elif kind in FACTORS:
        warm = {s: factor_history(kind, cfg.features.horizon, cfg.features.vol_window) for s in frames}
        params["factor"] = kind
    elif kind == BENCHMARK:
        params["equal_weight"] = True
    else:
        from maml_strategy.errors import ConfigError

        raise ConfigError(f"unknown portfolio entry {kind!r}; use one of {', '.join(portfolio_kinds())}")
    res = run_portfolio(frames, cfg, start, stop, name=kind, warmup=warm, **params)
    rets = res.daily_returns
    n_names = res.records["n_long"] + res.records["n_short"]
    out.update(yearly_metrics(rets, res.equity, res.start_value, res.traded_value))
    out.update(dates=[str(d.date()) for d in rets.index], returns=[float(v) for v in rets.to_numpy()],
               equity=[float(v) for v in res.equity.to_numpy()], trades=int(len(res.fills)),
               commission=float(res.fills["commission"].sum()) if len(res.fills) else 0.0,
               rejected=len(res.rejected), rebalances=len(res.rebalances), mean_names=float(n_names.mean()))
    write_json_entry(path, out)
    out["cached"] = False
    return out


def run_portfolio_walk_forward(plan: WalkForwardPlan, cfg: StrategyConfig, topk: TopkConfig, *, executor: Any,
                               cache_dir: str, kinds: Sequence[str] | None = None, progress: bool = True,
                               say: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Train (or load) every window's models, then run every portfolio task of ``plan``.

    Returns:
        ``{"runs": [...], "training": [...], "skipped": [...], "tasks": {...}}``, runs in submission order.
    """
    say = say or (lambda _m: None)
    kinds = tuple(kinds or portfolio_kinds())
    adjust = "total" if plan.price_basis == "total" else "none"
    end = f"{plan.last}-12-31"
    learned = [k for k in kinds if k in PORTFOLIO_MODELS]
    by_ws: dict[tuple[int, int], dict[str, Any]] = {}
    trained: list[dict[str, Any]] = []
    if learned:
        t_args = [(plan.train_symbols, adjust, end, y, plan.train_years, s, cfg, cache_dir)
                  for y in plan.years for s in plan.seeds]
        say(f"training: {len(t_args)} (window, seed) tasks on {len(plan.train_symbols)} symbols")
        trained = executor.map(train_task, t_args, desc="train", progress=progress)
        by_ws = {(t["year"], t["seed"]): t for t in trained}
    p_args = []
    for y in plan.years:
        for k in kinds:
            if k in PORTFOLIO_MODELS:
                for s in plan.seeds:
                    t = by_ws[(y, s)]
                    p_args.append((plan.symbols, adjust, end, y, s, k, cfg, topk, cache_dir, t["folder"], t["key"]))
            else:
                p_args.append((plan.symbols, adjust, end, y, plan.seeds[0], k, cfg, topk, cache_dir, None, ""))
    say(f"portfolios: {len(p_args)} (year, seed, entry) tasks over {len(plan.symbols)} symbols, top {topk.top_k}")
    done = executor.map(portfolio_task, p_args, desc="portfolio", progress=progress)
    skipped = [{"kind": d["kind"], "year": d["year"], "seed": d["seed"], "reason": d["skipped"]}
               for d in done if d.get("skipped")]
    return {"runs": [d for d in done if d.get("returns") is not None], "training": trained, "skipped": skipped,
            "tasks": {"train": len(trained), "train_cached": sum(bool(t["cached"]) for t in trained),
                      "portfolio": len(p_args), "portfolio_cached": sum(bool(d.get("cached")) for d in done)}}
