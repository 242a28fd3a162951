"""Universe walk-forward: for each test year, train one model on the years before it, backtest every symbol.

Three stages of tasks, each a plain function of one small dataclass, run by a
:mod:`~maml_strategy.backtest.executors` executor:

* :func:`feature_task` per symbol missing from the feature cache: its per-bar features;
* :func:`train_task` per (training window, seed) missing from the model cache: the
  universe models, returned as the bytes of their integrity-checked model files;
* :func:`backtest_task` per (symbol, year, seed) missing from the result cache: every
  strategy on that symbol-year.

The driver alone touches files. It loads and validates every symbol once, puts each
frame, each symbol's features and each (window, seed)'s model files into the
executor's object store once (:meth:`~maml_strategy.backtest.executors.Executor.put`),
and hands tasks those handles, never a path: on a Ray cluster, no node needs the
driver's data, cache or checkout. Every result is written into the driver's cache as
soon as it arrives, so a killed run resumes where it stopped.

Crash and concurrency safety (:mod:`maml_strategy.atomic`): every cache entry is
published by one atomic rename and checked by its SHA-256 digests when read, so a
killed run leaves no entry a later run would load half-written (a defective one
gives one ``CacheWarning`` and is recomputed). Two runs on one cache folder may
compute the same entry, deterministically; the atomic rename keeps one intact copy.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from maml_strategy.atomic import entry_ok, write_entry
from maml_strategy.backtest.executors import Executor, fetch
from maml_strategy.backtest.periods import Period, custom_period
from maml_strategy.config import KINDS, StrategyConfig, config_to_dict
from maml_strategy.data import DataWarning, load_ohlcv, load_universe
from maml_strategy.dataset import SymbolFeatures, feature_layout, symbol_features
from maml_strategy.errors import DataError, ModelError

__all__ = ["WalkForwardPlan", "FeatureTask", "TrainTask", "BacktestTask", "window_period", "feature_task",
           "train_task", "backtest_task", "model_files", "models_from_files", "feature_folder", "read_features",
           "write_features", "run_walk_forward", "load_universes"]

SymbolRef = tuple[str, str | None]  # (symbol, CSV path or None = search order): read by the driver only
MODEL_FILES = ("maml.pt", "static.pt", "gbdt.model", "history.json")  # a model cache entry's files
_FEATURE_ARRAYS = ("x", "y", "regime", "transition")


def load_universes(test_uni: Any, train_uni: Any, last: int, *, price_basis: str, skip_bad: bool,
                   say: Callable[[str], None]) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    """The test and training universes, each symbol loaded and validated once, up to ``last``-12-31.

    Every :class:`~maml_strategy.data.DataWarning` is passed to ``say`` once, as one line.
    The training frames are the test frames when both specs are the same object.

    Args:
        test_uni, train_uni: universe specs (``maml_strategy.data.resolve_universe``).
        last: the last test year: no later bar is read.
        price_basis: ``total`` (dividends credited) or ``close``.
        skip_bad: drop symbols that fail validation instead of raising.
        say: where the warnings go.

    Example:
        >>> test, train = load_universes(spec, spec, 2012, price_basis="total", skip_bad=False, say=print)  # doctest: +SKIP
    """
    adjust = "total" if price_basis == "total" else "none"
    end = f"{last}-12-31"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DataWarning)
        test = load_universe(test_uni, None, end, adjust=adjust, skip_bad=skip_bad)
        train = test if train_uni is test_uni else load_universe(train_uni, None, end, adjust=adjust, skip_bad=skip_bad)
    for w in caught:
        say(f"warning: {' '.join(str(w.message).split())}")
    return test, train


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


# ------------------------------------------------------------------ tasks (run anywhere; no file of the driver)
@dataclass(frozen=True)
class FeatureTask:
    """One symbol's features. ``frame`` is a handle from :meth:`Executor.put`."""

    symbol: str
    frame: Any
    cfg: StrategyConfig


@dataclass(frozen=True)
class TrainTask:
    """The universe models of one (training window, seed); ``key`` is the driver's cache key for them.

    ``frames`` and ``features`` map each training symbol to a handle of its frame and of its features.
    """

    year: int
    train_years: int
    seed: int
    frames: dict[str, Any]
    features: dict[str, Any]
    cfg: StrategyConfig
    key: str


@dataclass(frozen=True)
class BacktestTask:
    """Every strategy in ``kinds`` on one (symbol, year, seed); ``models`` is a handle to the model files."""

    symbol: str
    year: int
    seed: int
    frame: Any
    features: Any
    models: Any
    model_key: str
    kinds: tuple[str, ...]
    cfg: StrategyConfig


def _read_only(sf: SymbolFeatures) -> SymbolFeatures:
    for name in _FEATURE_ARRAYS:  # shared by every task, as in the object store: nobody may write into them
        arr = getattr(sf, name)
        if isinstance(arr, np.ndarray) and arr.flags.writeable:
            arr.setflags(write=False)
    return sf


def feature_task(task: FeatureTask) -> SymbolFeatures:
    """:func:`~maml_strategy.dataset.symbol_features` of one symbol (the driver caches them)."""
    return symbol_features(fetch(task.frame), task.cfg, task.symbol)


def model_files(models: Any) -> dict[str, bytes]:
    """The files of a model cache entry as bytes: each model in its integrity-checked model-file format.

    Args:
        models: a :class:`~maml_strategy.backtest.train.TrainedModels`.
    """
    with tempfile.TemporaryDirectory(prefix="maml_models.") as d:
        tmp = Path(d)
        models.maml.save(tmp / "maml.pt")
        models.static.save(tmp / "static.pt")
        if models.gbdt is not None:
            models.gbdt.save(tmp / "gbdt.model")
        (tmp / "history.json").write_text(json.dumps(models.history, default=str, indent=1))
        return {p.name: p.read_bytes() for p in sorted(tmp.iterdir())}


def models_from_files(files: Mapping[str, bytes], key: str = "") -> Any:
    """The :class:`~maml_strategy.backtest.train.TrainedModels` of :func:`model_files` bytes (digests verified).

    Raises:
        ModelError: an unknown file name, or a model file that is truncated, corrupt or incompatible.
    """
    from maml_strategy.backtest.train import load_trained

    unknown = sorted(set(files) - set(MODEL_FILES))
    if unknown:
        raise ModelError(f"unexpected model files {unknown}; expected some of {list(MODEL_FILES)}")
    with tempfile.TemporaryDirectory(prefix="maml_models.") as d:
        for name, data in files.items():
            (Path(d) / name).write_bytes(data)
        return load_trained(d, key)


def train_task(task: TrainTask) -> dict[str, Any]:
    """Train the universe models of one (window, seed); returns ``{"files": model_files, "seconds": s}``."""
    from maml_strategy.backtest.train import train_models

    period = window_period(task.year, task.train_years)
    frames, feats = fetch(task.frames), fetch(task.features)
    t0 = time.perf_counter()
    models = train_models(frames, task.cfg, period, seed=task.seed, cache_dir=None, feats=feats)
    return {"files": model_files(models), "seconds": round(time.perf_counter() - t0, 1)}


def feature_folder(cache_dir: str | Path, symbol: str, df: pd.DataFrame, cfg: StrategyConfig) -> Path:
    """The feature cache entry of one symbol's frame under ``cache_dir`` (keyed by its bars, config and code)."""
    from maml_strategy.backtest.train import _code_hash

    key = _hash(symbol, _frame_digest(df), config_to_dict(cfg.features), config_to_dict(cfg.regime), _code_hash())
    return Path(cache_dir) / "features" / f"{symbol}-{key}"


def read_features(folder: Path, symbol: str, index: pd.DatetimeIndex, cfg: StrategyConfig,
                  *, warn: bool = True) -> SymbolFeatures | None:
    """The memory-mapped features of an intact cache entry (None: missing, or defective with one warning)."""
    if not entry_ok(folder, tuple(f"{n}.npy" for n in _FEATURE_ARRAYS), warn=warn):
        return None
    names, n_cross, _ = feature_layout(cfg)
    a = {n: np.load(folder / f"{n}.npy", mmap_mode="r") for n in _FEATURE_ARRAYS}
    return SymbolFeatures(symbol, index, a["x"], a["y"], a["regime"], a["transition"], names, n_cross, cfg.features.lag)


def write_features(folder: Path, sf: SymbolFeatures) -> None:
    """Publish one symbol's feature arrays as a cache entry (atomically, manifest last)."""
    with write_entry(folder) as tmp:
        for name in _FEATURE_ARRAYS:
            np.save(tmp / f"{name}.npy", getattr(sf, name))


def backtest_task(task: BacktestTask) -> dict[str, Any]:
    """Every strategy in ``task.kinds`` on one (symbol, year, seed): rows, skill, test panel (or why skipped)."""
    from maml_strategy.backtest.suite import run_suite
    from maml_strategy.learners.base import apply_num_threads

    cfg, sym = task.cfg, task.symbol
    apply_num_threads(cfg.maml.num_threads)  # per-bar inference: one thread per worker
    period = window_period(task.year, 1)
    df, sf = fetch(task.frame), fetch(task.features)
    out: dict[str, Any] = {"symbol": sym, "year": task.year, "seed": task.seed, "rows": [], "skill": {},
                           "skipped": None}
    try:
        models = models_from_files(fetch(task.models), task.model_key)
        if not len(df.loc[period.test_start : period.test_end]):
            raise DataError(f"no bars in {task.year}")
        suite = run_suite(df, sf, cfg, period.test_start, period.test_end, models=models, seed=task.seed,
                          kinds=task.kinds)
    except DataError as exc:
        out["skipped"] = str(exc).splitlines()[0]
    else:
        for kind, r in suite.results.items():
            m = r.metrics
            out["rows"].append({"symbol": sym, "year": task.year, "seed": task.seed, "strategy": kind,
                                **{k: m.get(k) for k in ("total_return", "sharpe", "max_drawdown", "exposure", "trades",
                                                         "exposure_bear_high_vol", "exposure_other_regimes",
                                                         "adaptations", "alpha", "beta")}})
        out["skill"] = suite.skill
        out["panel"] = suite.panel
    return out


# ------------------------------------------------------------------ the driver: plan, cache, stages
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


def run_walk_forward(plan: WalkForwardPlan, cfg: StrategyConfig, *, executor: Executor, cache_dir: str,
                     progress: bool = True, say: Callable[[str], None] | None = None,
                     frames: Mapping[str, pd.DataFrame] | None = None) -> dict[str, Any]:
    """Run every feature, training and backtest task; return the rows, skill cells, task counts and stage times.

    Args:
        plan: symbols, years and seeds.
        cfg: strategy configuration.
        executor: where the tasks run.
        cache_dir: the driver's cache folder (features, models, results), read and written by the driver only.
        progress: progress bars.
        say: callback for stage lines.
        frames: the plan's symbols already loaded and validated by the caller (others are loaded here).

    Returns:
        ``{"rows", "skill", "skipped", "training", "panels", "tasks", "stages"}``; ``stages`` holds the seconds
        of the ``load``, ``features``, ``train`` and ``backtest`` stages.
    """
    from maml_strategy.backtest.wf_driver import DriverRun, backtest_stage, feature_stage, train_stage

    say = say or (lambda _m: None)
    adjust = "total" if plan.price_basis == "total" else "none"
    end = f"{plan.last}-12-31"
    kinds = plan.kinds or tuple(KINDS)
    stages: dict[str, float] = {}
    t0 = time.perf_counter()
    refs = {r[0]: r for r in [*plan.train_symbols, *plan.symbols]}
    given = frames or {}
    run = DriverRun(cfg, executor, Path(cache_dir), progress, say,
                    {s: given[s] if s in given else _load(ref, adjust, end) for s, ref in refs.items()})
    run.frame_h = {s: executor.put(df) for s, df in run.frames.items()}  # each frame into the object store once
    stages["load"], t0 = round(time.perf_counter() - t0, 2), time.perf_counter()
    feature_stage(run)
    stages["features"], t0 = round(time.perf_counter() - t0, 2), time.perf_counter()
    trained = train_stage(run, plan)
    stages["train"], t0 = round(time.perf_counter() - t0, 2), time.perf_counter()
    done = backtest_stage(run, plan, trained, kinds)
    stages["backtest"] = round(time.perf_counter() - t0, 2)
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
            "tasks": {"train": len(trained), "train_cached": sum(bool(t["cached"]) for t in trained),
                      "backtest": len(done), "backtest_cached": sum(bool(d.get("cached")) for d in done)},
            "stages": stages}
