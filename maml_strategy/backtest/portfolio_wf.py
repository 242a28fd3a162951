"""Portfolio walk-forward: per test year and seed, one :class:`~maml_strategy.portfolio.PortfolioStrategy`
backtest per model and per factor, plus the equal-weight universe rebalanced on the same days.

The models are the walk-forward's own: the same training windows
(:func:`~maml_strategy.backtest.walkforward.window_period`), the same cache key
(:func:`~maml_strategy.backtest.train.cache_key`) and the same model cache entries, so a
symbol-mode run and a portfolio run over the same universe and windows train once.
The driver alone touches files (it loads every symbol once, computes its features once,
reads and writes the cache); tasks, run by an :mod:`~maml_strategy.backtest.executors`
executor (local or Ray, identical results), get values and return values:

* :func:`portfolio_train_task` per (training window, seed) missing from the model cache: the
  universe models as the bytes of their files;
* :func:`portfolio_task` per (year, seed, model) and per (year, factor) and (year,
  ``equal_weight``) missing from the result cache (factors and the benchmark do not depend on
  the seed), each cached as a JSON entry (:mod:`maml_strategy.atomic`) keyed by every symbol's
  bars up to the year's end, the config, the portfolio settings, the model key and the code.

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
import sys
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from maml_strategy.atomic import entry_ok, read_json_entry, write_entry, write_json_entry
from maml_strategy.backtest.portfolio_stats import BENCHMARK, yearly_metrics
from maml_strategy.backtest.suite import trade_args
from maml_strategy.backtest.walkforward import (WalkForwardPlan, _frame_digest, _hash, model_files,  # one rule each
                                                models_from_files, window_period)
from maml_strategy.config import StrategyConfig, config_to_dict
from maml_strategy.features.factors import FACTORS, factor_history
from maml_strategy.learners.registry import LEARNERS
from maml_strategy.topk import TopkConfig

__all__ = ["PORTFOLIO_MODELS", "portfolio_kinds", "portfolio_train_task", "portfolio_task", "run_portfolio_walk_forward"]

#: learned entries of the portfolio section (gbdt only when LightGBM is installed)
PORTFOLIO_MODELS = ("maml", "static", "naive_finetune", "gbdt")  # kinds of config.kinds.KINDS (how each trades: there)


def portfolio_kinds() -> tuple[str, ...]:
    """Every entry run: the models (gbdt when LightGBM is installed), the factors, then ``equal_weight``.

    Example:
        >>> portfolio_kinds()[-3:]
        ('reversal', 'momentum', 'equal_weight')
    """
    models = tuple(m for m in PORTFOLIO_MODELS if m != "gbdt" or LEARNERS["gbdt"].available())
    return (*models, *FACTORS, BENCHMARK)


def _fetch(value: Any) -> Any:
    """The value behind an executor handle (a Ray object reference; anything else is the value itself)."""
    ray = sys.modules.get("ray")
    ref = getattr(ray, "ObjectRef", None)
    if ref is not None and isinstance(value, ref):
        return ray.get(value)
    if ref is not None and isinstance(value, dict) and any(isinstance(v, ref) for v in value.values()):
        keys = list(value)
        return dict(zip(keys, ray.get([value[k] for k in keys])))
    return value


def _put(executor: Any, value: Any) -> Any:
    put = getattr(executor, "put", None)
    return put(value) if callable(put) else value


def portfolio_train_task(frames: Any, feats: Any, year: int, train_years: int, seed: int, cfg: StrategyConfig,
                         key: str) -> dict[str, Any]:
    """Train the universe models of one (window, seed) (no file written); returns ``{"files", "seconds"}``.

    Raises:
        ConfigError: this worker computes another cache key than the driver (other code or dependencies).

    Example:
        >>> portfolio_train_task(frames, feats, 2012, 8, 0, cfg, key)["files"].keys()  # doctest: +SKIP
        dict_keys(['gbdt.model', 'history.json', 'maml.pt', 'static.pt'])
    """
    from maml_strategy.backtest.train import train_models
    from maml_strategy.errors import ConfigError

    t0 = time.perf_counter()
    models = train_models(_fetch(frames), cfg, window_period(year, train_years), seed=seed, cache_dir=None,
                          feats=_fetch(feats))
    if models.key != key:
        raise ConfigError(f"the worker that trained {year} seed {seed} computes cache key {models.key}, the driver "
                          f"{key}: install the same dependencies (LightGBM included) everywhere")
    return {"files": model_files(models), "seconds": round(time.perf_counter() - t0, 1)}


def portfolio_task(frames: Any, feats: Any, year: int, seed: int, kind: str, cfg: StrategyConfig, topk: TopkConfig,
                   model_files: Any, model_key: str) -> dict[str, Any]:
    """One portfolio backtest (``kind``: a model, a factor or ``equal_weight``) over test year ``year``.

    Args:
        frames, feats: ``{symbol: OHLCV frame}`` and ``{symbol: SymbolFeatures}`` (or executor handles to them).
        year, seed: the test year and training seed.
        kind: the entry.
        cfg, topk: strategy and portfolio settings.
        model_files: the model cache entry's files as bytes (None for factors and the benchmark).
        model_key: the models' cache key.

    Returns:
        ``{"kind", "year", "seed", "dates", "returns", "equity", "total_return", "max_drawdown", "turnover",
        "trades", "commission", "rejected", "rebalances", "mean_names", "symbols", "skipped"}``
        (``returns`` None and ``skipped`` set when the model is missing).

    Example:
        >>> r = portfolio_task(frames, feats, 2012, 0, "reversal", cfg, TopkConfig(top_k=3), None, "")  # doctest: +SKIP
        >>> r["total_return"], r["turnover"]  # doctest: +SKIP
    """
    from maml_strategy.backtest.runner import _adaptive_warmup, warmup_bars
    from maml_strategy.engine import Precomputed
    from maml_strategy.learners.base import apply_num_threads
    from maml_strategy.portfolio import run_portfolio

    apply_num_threads(cfg.maml.num_threads)
    period = window_period(year, 1)
    start, stop = period.test_start, period.test_end
    frames, feats = _fetch(frames), _fetch(feats)
    frames = {s: df for s, df in frames.items() if len(df.loc[start:stop])}
    out: dict[str, Any] = {"kind": kind, "year": year, "seed": seed, "returns": None, "skipped": None,
                           "symbols": sorted(frames)}
    params: dict[str, Any] = {"top_k": topk.top_k, "n_drop": topk.n_drop, "rebalance": topk.rebalance,
                              "weighting": topk.weighting, "allow_short": topk.allow_short,
                              "max_exposure": topk.max_exposure}
    warm: dict[str, int] = {}
    if kind in PORTFOLIO_MODELS:
        files = _fetch(model_files)
        models = models_from_files(files, model_key) if files else None
        learner, adapt, steps, lr = trade_args(kind, models, cfg) if models is not None else (None, False, None, None)
        if learner is None:
            out["skipped"] = f"no {kind} model for {year} seed {seed}"
            return out
        n_warm = warmup_bars(cfg, kind, precomputed=True)
        pre = {}
        for s, df in frames.items():
            p = Precomputed.from_symbol_features(feats[s])
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
    return out


def _load_frames(refs: Sequence[tuple[str, str | None]], adjust: str, end: str) -> dict[str, pd.DataFrame]:
    from maml_strategy.data import DataWarning, load_ohlcv

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)  # shown once by the caller's validation
        return {s: load_ohlcv(s, None, end, path=path, adjust=adjust) for s, path in refs}


def _train(plan: WalkForwardPlan, cfg: StrategyConfig, executor: Any, cache: Path, frames: Mapping[str, Any],
           feats: Mapping[str, Any], progress: bool, say: Callable[[str], None]) -> dict[tuple[int, int], Any]:
    """``{(year, seed): info with "files"}``: every window's models, from the model cache or trained by tasks."""
    from maml_strategy.backtest.train import _entry_files, cache_key

    infos: dict[tuple[int, int], dict[str, Any]] = {}
    todo: list[tuple[tuple[int, int], Path, tuple[Any, ...]]] = []
    train_syms = [r[0] for r in plan.train_symbols]
    for y in plan.years:
        period = window_period(y, plan.train_years)
        fr = {s: frames[s] for s in train_syms if frames[s].index[0] < period.train_end}
        for seed in plan.seeds:
            key = cache_key(fr, cfg, period, seed)
            folder = cache / key
            if entry_ok(folder, _entry_files()):  # a defective entry gives one warning and is retrained
                files = {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name in _entry_files()}
                infos[(y, seed)] = {"year": y, "seed": seed, "key": key, "cached": True, "files": files}
            else:
                todo.append(((y, seed), folder, (_put(executor, fr), _put(executor, {s: feats[s] for s in fr}), y,
                                                 plan.train_years, seed, cfg, key)))
    say(f"training: {len(infos) + len(todo)} (window, seed) tasks on {len(train_syms)} symbols, {len(todo)} to train")
    done = executor.map(portfolio_train_task, [t[2] for t in todo], desc="train", progress=progress)
    for (ws, folder, args), res in zip(todo, done):
        with write_entry(folder) as tmp:  # manifest last, then one rename: the walk-forward's model entry
            for name, data in res["files"].items():
                (tmp / name).write_bytes(data)
        infos[ws] = {"year": ws[0], "seed": ws[1], "key": args[-1], "cached": False, "seconds": res["seconds"],
                     "files": res["files"]}
    return infos


def run_portfolio_walk_forward(plan: WalkForwardPlan, cfg: StrategyConfig, topk: TopkConfig, *, executor: Any,
                               cache_dir: str, kinds: Sequence[str] | None = None, progress: bool = True,
                               say: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Load every symbol, compute its features, train (or load) every window's models, run every portfolio task.

    Args:
        plan: test and training symbols, years, seeds, price basis.
        cfg: strategy configuration.
        topk: portfolio settings.
        executor: where the tasks run (``LocalExecutor`` or ``RayExecutor``).
        cache_dir: the driver's cache folder (models shared with symbol mode; ``portfolio/`` results).
        kinds: entries to run (None = :func:`portfolio_kinds`).
        progress: progress bars.
        say: stage-line callback.

    Returns:
        ``{"runs": [...], "training": [...], "skipped": [...], "tasks": {...}}``, runs in submission order.

    Example:
        >>> res = run_portfolio_walk_forward(plan, cfg, TopkConfig(top_k=3), executor=LocalExecutor(),
        ...                                  cache_dir="cache", kinds=("reversal", "equal_weight"))  # doctest: +SKIP
    """
    from maml_strategy.backtest.train import _code_hash
    from maml_strategy.dataset import symbol_features

    say = say or (lambda _m: None)
    kinds = tuple(kinds or portfolio_kinds())
    adjust = "total" if plan.price_basis == "total" else "none"
    cache = Path(cache_dir)
    refs = {r[0]: r for r in [*plan.train_symbols, *plan.symbols]}
    frames = _load_frames(list(refs.values()), adjust, f"{plan.last}-12-31")
    say(f"features: {len(frames)} symbol(s)")
    feats = {s: symbol_features(df, cfg, s) for s, df in frames.items()}
    learned = [k for k in kinds if k in PORTFOLIO_MODELS]
    trained = _train(plan, cfg, executor, cache, frames, feats, progress, say) if learned else {}
    test_syms = [r[0] for r in plan.symbols]
    code, settings, tk = _code_hash(backtests=True), config_to_dict(cfg), dataclasses.asdict(topk)
    done: list[dict[str, Any] | None] = []
    todo: list[tuple[int, Path, tuple[Any, ...]]] = []
    model_h: dict[tuple[int, int], Any] = {}
    for y in plan.years:
        stop = window_period(y, 1).test_end
        syms = [s for s in test_syms if len(frames[s].loc[window_period(y, 1).test_start:stop])]
        fr_h, sf_h = _put(executor, {s: frames[s] for s in syms}), _put(executor, {s: feats[s] for s in syms})
        digests = [(s, _frame_digest(frames[s].loc[:stop])) for s in syms]
        for k in kinds:
            for seed in (plan.seeds if k in PORTFOLIO_MODELS else plan.seeds[:1]):
                info = trained.get((y, seed)) if k in PORTFOLIO_MODELS else None
                model_key = info["key"] if info else ""
                key = _hash("pf", k, y, seed, model_key, digests, settings, tk, code)
                path = cache / "portfolio" / f"{k}-{y}-{seed}-{key}.json"
                out = read_json_entry(path)  # None when missing or defective (one warning): recompute
                if out is not None:
                    out["cached"] = True
                else:
                    if info is not None and (y, seed) not in model_h:
                        model_h[(y, seed)] = _put(executor, info["files"])
                    todo.append((len(done), path, (fr_h, sf_h, y, seed, k, cfg, topk, model_h.get((y, seed)),
                                                   model_key)))
                done.append(out)
    say(f"portfolios: {len(done)} (year, seed, entry) tasks over {len(test_syms)} symbols, top {topk.top_k}, "
        f"{len(todo)} to run")
    results = executor.map(portfolio_task, [t[2] for t in todo], desc="portfolio", progress=progress)
    for (slot, path, _), res in zip(todo, results):
        write_json_entry(path, res)  # atomic, with the digest of its payload
        done[slot] = {**res, "cached": False}
    runs = [d for d in done if d is not None]
    skipped = [{"kind": d["kind"], "year": d["year"], "seed": d["seed"], "reason": d["skipped"]}
               for d in runs if d.get("skipped")]
    training = [{k: v for k, v in t.items() if k != "files"} for t in trained.values()]
    return {"runs": [d for d in runs if d.get("returns") is not None], "training": training, "skipped": skipped,
            "tasks": {"train": len(training), "train_cached": sum(bool(t["cached"]) for t in training),
                      "portfolio": len(runs), "portfolio_cached": sum(bool(d.get("cached")) for d in runs)}}
