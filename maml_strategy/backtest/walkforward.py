"""Universe walk-forward: for each test year, train one model on the years before it, backtest every symbol.

Task layout (each a plain function, run by a :mod:`~maml_strategy.backtest.executors` executor):

* one training task per (training window, seed): the whole training universe, cached
  by :func:`~maml_strategy.backtest.train.train_models`;
* one backtest task per (symbol, year, seed): every strategy on that symbol-year,
  cached as JSON, so a killed run resumes where it stopped.

Each task loads only the symbols it needs; per-symbol features are computed once and
kept on disk (memory-mapped), since rows never depend on later bars.

Crash and concurrency safety (:mod:`maml_strategy.atomic`): every cache entry is
published by one atomic rename and checked by its SHA-256 digests when read, so a
killed run leaves no entry a later run would load half-written (a defective one
gives one ``CacheWarning`` and is recomputed). Training and feature entries are
also computed under a ``filelock`` lock per entry, so concurrent runs (or Ray
workers) on one cache folder compute each once; a backtest result is not locked:
two runs may compute the same one, deterministically, and the atomic rename keeps
one intact copy.
"""

from __future__ import annotations

import hashlib
import json
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from maml_strategy.atomic import entry_lock, entry_ok, read_json_entry, write_entry, write_json_entry
from maml_strategy.backtest.periods import Period, custom_period
from maml_strategy.config import SEEDLESS_KINDS, StrategyConfig, config_to_dict
from maml_strategy.data import DataWarning, load_ohlcv
from maml_strategy.dataset import SymbolFeatures, feature_layout, symbol_features
from maml_strategy.errors import DataError

__all__ = ["WalkForwardPlan", "window_period", "train_task", "backtest_task", "cached_symbol_features", "run_walk_forward"]

SymbolRef = tuple[str, str | None]  # (symbol, CSV path or None = search order)


def window_period(year: int, train_years: int, val_years: int = 2) -> Period:
    """Train on the ``train_years`` calendar years before ``year`` (validation = the last ``val_years``), test on ``year``.

    Example:
        >>> p = window_period(2008, 10)
        >>> str(p.train_start.date()), str(p.val_start.date()), str(p.test_end.date())
        ('1998-01-01', '2006-01-01', '2008-12-31')
    """
    return custom_period(f"{year - train_years}-01-01", f"{year - 1}-12-31", f"{year}-01-01", f"{year}-12-31",
                         val_years=val_years, name=str(year))


def _hash(*parts: Any) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p if isinstance(p, bytes) else json.dumps(p, sort_keys=True, default=str).encode())
    return h.hexdigest()[:20]


def _frame_digest(df: pd.DataFrame) -> bytes:
    cols = df[["open", "high", "low", "close", "volume"]]
    return hashlib.sha256(np.ascontiguousarray(cols.to_numpy()).tobytes() + np.asarray(df.index.asi8).tobytes()).digest()


def _load(ref: SymbolRef, adjust: str, end: str | None) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)  # already shown once by the driver's validation
        return load_ohlcv(ref[0], None, end, path=ref[1], adjust=adjust)


_FEATURE_ARRAYS = ("x", "y", "regime", "transition")


def cached_symbol_features(ref: SymbolRef, adjust: str, end: str | None, cfg: StrategyConfig,
                           cache_dir: str | None) -> tuple[pd.DataFrame, SymbolFeatures]:
    """Load one symbol and its features, from the on-disk feature cache when present (memory-mapped).

    The cache entry is a folder of ``.npy`` files with a ``manifest.json`` (:mod:`maml_strategy.atomic`): an
    incomplete or corrupt one gives one ``CacheWarning`` and is recomputed; concurrent workers compute it once.
    """
    from maml_strategy.backtest.train import _code_hash

    df = _load(ref, adjust, end)
    if cache_dir is None:
        return df, symbol_features(df, cfg, ref[0])
    key = _hash(ref[0], _frame_digest(df), config_to_dict(cfg.features), config_to_dict(cfg.regime), _code_hash())
    folder = Path(cache_dir) / "features" / f"{ref[0]}-{key}"
    names, n_cross, _ = feature_layout(cfg)
    files = tuple(f"{n}.npy" for n in _FEATURE_ARRAYS)
    if not entry_ok(folder, files):  # missing, or incomplete/corrupt (one warning): compute once, publish atomically
        with entry_lock(folder):
            if not entry_ok(folder, files, warn=False):
                sf = symbol_features(df, cfg, ref[0])
                with write_entry(folder) as tmp:
                    for name in _FEATURE_ARRAYS:
                        np.save(tmp / f"{name}.npy", getattr(sf, name))
                return df, sf
    arrays = {n: np.load(folder / f"{n}.npy", mmap_mode="r") for n in _FEATURE_ARRAYS}
    return df, SymbolFeatures(ref[0], df.index, arrays["x"], arrays["y"], arrays["regime"], arrays["transition"],
                              names, n_cross, cfg.features.lag)


def _mk(p: Path) -> Path:
    p.mkdir(parents=True, exist_ok=True)
    return p


def train_task(train_refs: Sequence[SymbolRef], adjust: str, end: str | None, year: int, train_years: int,
               seed: int, cfg: StrategyConfig, cache_dir: str) -> dict[str, Any]:
    """Train (or load) the universe model of one (window, seed); returns its cache key and folder."""
    from maml_strategy.backtest.train import train_models

    period = window_period(year, train_years)
    frames, feats = {}, {}
    for ref in train_refs:
        df, sf = cached_symbol_features(ref, adjust, end, cfg, cache_dir)
        if df.index[0] < period.train_end:
            frames[ref[0]], feats[ref[0]] = df, sf
    t0 = time.perf_counter()
    models = train_models(frames, cfg, period, seed=seed, cache_dir=cache_dir, feats=feats)
    hist = models.history
    return {"year": year, "seed": seed, "key": models.key, "folder": str(Path(cache_dir) / models.key),
            "cached": models.cached, "seconds": round(time.perf_counter() - t0, 1),
            "maml_best_epoch": hist.get("maml", {}).get("best_epoch"),
            "static_best_epoch": hist.get("static", {}).get("best_epoch"), "symbols": len(frames)}


def backtest_task(ref: SymbolRef, adjust: str, end: str | None, year: int, seed: int, cfg: StrategyConfig,
                  cache_dir: str, model_folder: str, model_key: str, kinds: tuple[str, ...]) -> dict[str, Any]:
    """Every strategy in ``kinds`` on one (symbol, year, seed); cached as JSON under ``cache_dir/wf``."""
    from maml_strategy.backtest.suite import run_suite
    from maml_strategy.backtest.train import _code_hash, load_trained

    from maml_strategy.learner import apply_num_threads

    apply_num_threads(cfg.maml.num_threads)  # per-bar inference: one thread per worker
    period = window_period(year, 1)
    df, sf = cached_symbol_features(ref, adjust, end, cfg, cache_dir)
    key = _hash("bt", ref[0], _frame_digest(df.loc[: period.test_end]), year, seed, model_key, list(kinds),
                config_to_dict(cfg), _code_hash(backtests=True))
    path = Path(cache_dir) / "wf" / f"{ref[0]}-{year}-{seed}-{key}.json"
    out = read_json_entry(path)  # None when missing, or incomplete/corrupt (one warning): recompute
    if out is not None:
        out["cached"] = True
        return out
    out: dict[str, Any] = {"symbol": ref[0], "year": year, "seed": seed, "rows": [], "skill": {}, "skipped": None}
    try:
        models = load_trained(model_folder, model_key)
        if not len(df.loc[period.test_start : period.test_end]):
            raise DataError(f"no bars in {year}")
        suite = run_suite(df, sf, cfg, period.test_start, period.test_end, models=models, seed=seed, kinds=kinds)
    except DataError as exc:
        out["skipped"] = str(exc).splitlines()[0]
    else:
        for kind, r in suite.results.items():
            m = r.metrics
            out["rows"].append({"symbol": ref[0], "year": year, "seed": seed, "strategy": kind,
                                **{k: m.get(k) for k in ("total_return", "sharpe", "max_drawdown", "exposure", "trades",
                                                         "exposure_bear_high_vol", "exposure_other_regimes",
                                                         "adaptations", "alpha", "beta")}})
        out["skill"] = suite.skill
        out["panel"] = suite.panel
    write_json_entry(path, out)  # atomic, with the digest of its payload
    out["cached"] = False
    return out


@dataclass
class WalkForwardPlan:
    """What to run: test symbols, training symbols, years, seeds."""

    symbols: list[SymbolRef]  # test universe
    train_symbols: list[SymbolRef]  # training universe (may differ)
    first: int
    last: int
    train_years: int
    seeds: list[int]
    price_basis: str = "total"  # "total" or "close"
    kinds: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def years(self) -> list[int]:
        return list(range(self.first, self.last + 1))


def run_walk_forward(plan: WalkForwardPlan, cfg: StrategyConfig, *, executor: Any, cache_dir: str,
                     progress: bool = True, say: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run every training and backtest task; return the rows, skill cells and task counts.

    Returns:
        ``{"rows": [...], "skill": [...], "skipped": [...], "training": [...], "tasks": {...}}``.
    """
    from maml_strategy.backtest.suite import ALL_STRATEGIES

    say = say or (lambda _m: None)
    adjust = "total" if plan.price_basis == "total" else "none"
    end = f"{plan.last}-12-31"
    kinds = plan.kinds or ALL_STRATEGIES
    t_args = [(plan.train_symbols, adjust, end, y, plan.train_years, s, cfg, cache_dir)
              for y in plan.years for s in plan.seeds]
    say(f"training: {len(t_args)} (window, seed) tasks on {len(plan.train_symbols)} symbols")
    trained = executor.map(train_task, t_args, desc="train", progress=progress)
    by_ws = {(t["year"], t["seed"]): t for t in trained}
    b_args = []
    for y in plan.years:
        for s in plan.seeds:
            t = by_ws[(y, s)]
            for ref in plan.symbols:
                k = kinds if s == plan.seeds[0] else tuple(x for x in kinds if x not in SEEDLESS_KINDS)
                b_args.append((ref, adjust, end, y, s, cfg, cache_dir, t["folder"], t["key"], k))
    say(f"backtests: {len(b_args)} (symbol, year, seed) tasks, {len(kinds)} strategies each")
    done = executor.map(backtest_task, b_args, desc="backtest", progress=progress)
    rows, skill, skipped, panels = [], [], [], []
    for d in done:
        rows.extend(d["rows"])
        if d.get("panel"):
            panels.append({"symbol": d["symbol"], "year": d["year"], "seed": d["seed"], **d["panel"]})
        if d.get("skipped"):
            skipped.append({"symbol": d["symbol"], "year": d["year"], "seed": d["seed"], "reason": d["skipped"]})
        for model, sc in d.get("skill", {}).items():
            skill.append({"symbol": d["symbol"], "year": d["year"], "seed": d["seed"], "model": model, **sc})
    return {"rows": rows, "skill": skill, "skipped": skipped, "training": trained, "panels": panels,
            "tasks": {"train": len(t_args), "train_cached": sum(bool(t["cached"]) for t in trained),
                      "backtest": len(b_args), "backtest_cached": sum(bool(d.get("cached")) for d in done)}}
