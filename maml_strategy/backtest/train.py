"""Fit the scaler, the static model and MAML on one training window of a universe, with an on-disk cache.

Nothing after ``period.train_end`` reaches a model: features and regimes are
causal, labels are masked so that no label's horizon crosses the window's end,
and the cache key hashes each symbol's bars up to ``train_end`` only.

A universe is a ``{symbol: frame}`` mapping (one frame = a one-symbol universe).
A task is one (symbol, regime segment); the task sampler balances regimes and,
within a regime, symbols. There is one scaler and one model per training window.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from maml_strategy.atomic import MANIFEST, CacheWarning, check_entry, entry_lock, entry_ok, write_entry
from maml_strategy.config import StrategyConfig, config_to_dict
from maml_strategy.dataset import PooledWindows, SymbolFeatures, pool_windows, symbol_features
from maml_strategy.version import __version__

__all__ = ["Dataset", "Prepared", "TrainedModels", "as_universe", "build_dataset", "load_trained", "cache_key", "prepare_training", "train_models",
           "universe_features"]

log = logging.getLogger(__name__)
_PKG_DIR = Path(__file__).resolve().parents[1]  # the maml_strategy package
Universe = Mapping[str, pd.DataFrame]


def as_universe(data: pd.DataFrame | Universe, symbol: str = "SYMBOL") -> dict[str, pd.DataFrame]:
    """A frame or a ``{symbol: frame}`` mapping as a dict."""
    return {symbol: data} if isinstance(data, pd.DataFrame) else dict(data)


def universe_features(frames: Universe, cfg: StrategyConfig, end: Any = None) -> dict[str, SymbolFeatures]:
    """:func:`~maml_strategy.dataset.symbol_features` of every symbol, on bars up to ``end``."""
    return {s: symbol_features(f if end is None else f.loc[:end], cfg, s) for s, f in frames.items()}


@dataclass
class Dataset:
    """One symbol's training-window arrays (for scripts that work per symbol, e.g. ``select_gbdt.py``)."""

    index: pd.DatetimeIndex
    x: np.ndarray  # [n, D] raw features, NaN rows where invalid
    y: np.ndarray  # [n] labels, NaN where the horizon passes train_end
    valid: np.ndarray  # [n] finite features and label, inside [train_start, train_end]
    segments: list[Any]  # causal regime segments over the whole frame
    feature_names: list[str]
    n_cross: int


def build_dataset(df: pd.DataFrame, cfg: StrategyConfig, train_start: Any, train_end: Any) -> Dataset:
    """:func:`~maml_strategy.dataset.symbol_features` of ``df.loc[:train_end]`` as per-symbol training arrays.

    Example:
        >>> ds = build_dataset(load_ohlcv("SPY"), load_config(), "1997-01-01", "2007-12-31")  # doctest: +SKIP
    """
    from maml_strategy.regime.detector import segments_from_codes

    sf = symbol_features(df.loc[:train_end], cfg)
    valid = np.isfinite(sf.x).all(axis=1) & np.isfinite(sf.y) & np.asarray(sf.index >= pd.Timestamp(train_start))
    return Dataset(sf.index, sf.x, sf.y, valid, segments_from_codes(sf.regime, sf.index), sf.feature_names, sf.n_cross)


@dataclass
class TrainedModels:
    """What the backtest needs from training: one fitted learner per trainable kind of the registry."""

    learners: dict[str, Any]  # kind -> learner, in maml_strategy.learners.LEARNERS order ("gbdt" absent without LightGBM)
    key: str = ""  # cache key
    history: dict[str, Any] = dataclasses.field(default_factory=dict)  # training curves and task counts
    cached: bool = False  # loaded from the cache

    @property
    def maml(self) -> Any:
        """The meta-learned net (:class:`~maml_strategy.learners.maml.MAML`)."""
        return self.learners["maml"]

    @property
    def static(self) -> Any:
        """The static net (:class:`~maml_strategy.learners.static.StaticModel`)."""
        return self.learners["static"]

    @property
    def gbdt(self) -> Any:
        """The boosted trees (:class:`~maml_strategy.learners.gbdt.GBDTModel`), None without LightGBM (extra [trees])."""
        return self.learners.get("gbdt")


@functools.lru_cache(maxsize=None)
def _code_hash(backtests: bool = False) -> str:
    """Hash of the package's code that shapes a model (``backtests=True``: and a backtest result).

    Read once per process: the code a process runs is the code it imported, and an edit made
    while it runs must not change the keys of the caches it writes halfway.
    """
    skip = {"live"} if backtests else {"live", "backtest"}
    h = hashlib.sha256()
    for p in sorted(_PKG_DIR.rglob("*.py")):
        if skip & set(p.relative_to(_PKG_DIR).parts) and p.name != "train.py":
            continue
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def cache_key(data: pd.DataFrame | Universe, cfg: StrategyConfig, period: Any, seed: int) -> str:
    """Hash of config + every symbol's training bars + code version + seed: a changed input never reuses a model."""
    from maml_strategy.learners import LEARNERS

    h = hashlib.sha256()
    for sym, df in sorted(as_universe(data).items()):
        train = df.loc[: period.train_end, ["open", "high", "low", "close", "volume"]]
        h.update(sym.encode())
        h.update(np.ascontiguousarray(train.to_numpy()).tobytes())
        h.update(np.asarray(train.index.asi8).tobytes())
    meta = {
        "regime": config_to_dict(cfg.regime), "features": config_to_dict(cfg.features),
        "maml": config_to_dict(cfg.maml), "static": config_to_dict(cfg.static), "model": config_to_dict(cfg.model),
        "tasks": config_to_dict(cfg.tasks), "gbdt_config": config_to_dict(cfg.gbdt),
        "period": [str(period.train_start.date()), str(period.val_start.date()), str(period.train_end.date())],
        "seed": seed, "version": __version__, "code": _code_hash(), "gbdt": LEARNERS["gbdt"].available(),
    }
    h.update(json.dumps(meta, sort_keys=True).encode())
    return h.hexdigest()[:20]



def load_trained(folder: str | Path, key: str = "", history: dict[str, Any] | None = None) -> TrainedModels:
    """The models saved in a cache folder (``gbdt`` only when its file is there).

    A folder with a ``manifest.json`` (every cache entry) is checked against it first.

    Raises:
        ModelError: a file is missing, truncated or corrupt.
    """
    from maml_strategy.learners import LEARNERS, learner_class

    folder = Path(folder)
    if (folder / MANIFEST).is_file():
        problem = check_entry(folder)
        if problem is not None:
            from maml_strategy.errors import ModelError

            raise ModelError(f"model folder {folder} is incomplete or corrupt: {problem}; delete it to retrain")
    learners = {kind: learner_class(kind).load(folder / spec.file) for kind, spec in LEARNERS.items()
                if spec.fit and (spec.requires is None or (folder / spec.file).is_file())}
    return TrainedModels(learners, key, history or {}, True)


@dataclass
class Prepared:
    """Scaled pooled arrays and task samplers for one training window."""

    pooled: PooledWindows  # windows "fit" (whole training window), "meta" (before validation), "val"
    train_sampler: Any  # TaskSampler over meta-training segments (labels end before validation)
    val_sampler: Any  # TaskSampler over validation-year segments

    @property
    def scaler(self) -> Any:
        return self.pooled.scaler

    def training_data(self) -> Any:
        """The :class:`~maml_strategy.learners.protocol.TrainingData` every learner fits on.

        Fitting rows: the window before validation (labels end before it); validation rows: the validation years.
        """
        from maml_strategy.learners.protocol import TrainingData

        p = self.pooled
        fit_rows, val_rows = p.rows("meta"), p.rows("val")
        return TrainingData(p.x[fit_rows], p.labels["meta"][fit_rows], p.x[val_rows], p.labels["val"][val_rows],
                            self.train_sampler, self.val_sampler, p.scaler, p.feature_names, p.model_kwargs)


def prepare_training(
    data: pd.DataFrame | Universe,
    cfg: StrategyConfig,
    period: Any,
    *,
    seed: int = 0,
    feats: Mapping[str, SymbolFeatures] | None = None,
) -> Prepared:
    """Pooled features, scaler, labels and task samplers for ``period`` (nothing after ``train_end``).

    Meta-training tasks come from segments before the validation years, with every
    label ending before validation starts; validation tasks come from the validation
    years. The scaler is fitted on the whole training window's usable rows.

    Args:
        data: one frame or ``{symbol: frame}``.
        cfg: strategy configuration.
        period: a :class:`~maml_strategy.backtest.periods.Period`.
        seed: sampler seed.
        feats: precomputed :func:`universe_features` (must come from the same frames).
    """
    from maml_strategy.tasks import TaskSampler

    frames = as_universe(data)
    feats = universe_features(frames, cfg, period.train_end) if feats is None else feats
    end_meta = period.val_start - pd.Timedelta(days=1)
    K, Q, h = cfg.maml.support_size, cfg.maml.query_size, cfg.features.lag  # gap = the label's lag
    back = K + h if cfg.tasks.support_from_previous_regime else 0
    windows = {"fit": (period.train_start, period.train_end), "meta": (period.train_start, end_meta),
               "val": (period.val_start, period.train_end)}
    pooled = pool_windows({s: feats[s] for s in frames}, windows, fit_window="fit", cfg=cfg, extend_back=back)
    # meta-training segments end where meta labels end (horizon before validation)
    meta_segs, meta_sym = [], []
    for s, sym in zip(pooled.segments["meta"], pooled.segment_symbol["meta"]):
        known = np.flatnonzero(np.isfinite(pooled.labels["meta"][s.start_pos : s.end_pos + 1]))
        if len(known):
            end = s.start_pos + int(known[-1])
            meta_segs.append(dataclasses.replace(s, end_pos=end, n_bars=end - s.start_pos + 1))
            meta_sym.append(sym)
    sampler = TaskSampler(meta_segs, pooled.x, pooled.labels["meta"], support_size=K, query_size=Q, horizon=h,
                          seed=seed, groups=meta_sym)
    val_sampler = TaskSampler(pooled.segments["val"], pooled.x, pooled.labels["val"], support_size=K, query_size=Q,
                              horizon=h, seed=seed + 10_000, groups=pooled.segment_symbol["val"])
    return Prepared(pooled, sampler, val_sampler)


def train_models(
    data: pd.DataFrame | Universe,
    cfg: StrategyConfig,
    period: Any,
    *,
    seed: int = 0,
    cache_dir: str | Path | None = "backtests/cache",
    progress: bool = False,
    feats: Mapping[str, SymbolFeatures] | None = None,
    say: Callable[[str], None] | None = None,
) -> TrainedModels:
    """Train (or load from cache) the MAML and static models for ``period`` on a universe.

    Args:
        data: one frame or ``{symbol: frame}`` (anything after ``period.train_end`` is ignored).
        cfg: strategy configuration (feature, regime, maml and static sections are used).
        period: a :class:`~maml_strategy.backtest.periods.Period`.
        seed: seed for both models.
        cache_dir: folder for cached model files (None disables caching).
        progress: show tqdm progress bars.
        feats: precomputed :func:`universe_features` of ``data``.
        say: callback for stage lines (e.g. ``print``).

    Returns:
        :class:`TrainedModels`.

    Example:
        >>> models = train_models(load_ohlcv("SPY"), load_config(), periods["2008"])  # doctest: +SKIP
    """
    say = say or (lambda _msg: None)
    frames = as_universe(data)
    key = cache_key(frames, cfg, period, seed)
    if cache_dir is None:
        return _fit(frames, cfg, period, seed, key, progress, feats, say)
    folder = Path(cache_dir) / key
    loaded = _load_entry(folder, key, seed, say, warn=True)
    if loaded is not None:
        return loaded
    with entry_lock(folder):  # one process trains this entry; the others wait, then load it
        loaded = _load_entry(folder, key, seed, say, warn=False)
        if loaded is not None:
            return loaded
        models = _fit(frames, cfg, period, seed, key, progress, feats, say)
        with write_entry(folder) as tmp:  # manifest last, then one rename: never half an entry
            from maml_strategy.learners import LEARNERS

            for kind, learner in models.learners.items():
                learner.save(tmp / LEARNERS[kind].file)
            (tmp / "history.json").write_text(json.dumps(models.history, default=str, indent=1))
    return models


def _entry_files() -> tuple[str, ...]:
    from maml_strategy.learners import LEARNERS

    return tuple(s.file for s in LEARNERS.values() if s.fit and s.available()) + ("history.json",)


def _load_entry(folder: Path, key: str, seed: int, say: Callable[[str], None], *, warn: bool) -> TrainedModels | None:
    """The cached models of ``folder`` if the entry is complete and intact (else None, one warning)."""
    if not entry_ok(folder, _entry_files(), warn=warn):
        return None
    from maml_strategy.errors import ModelError

    try:
        models = load_trained(folder, key, json.loads((folder / "history.json").read_text()))
    except (ModelError, OSError, ValueError) as exc:
        if warn:
            warnings.warn(f"cache entry {folder} does not load ({' '.join(str(exc).split())}); retraining", CacheWarning,
                          stacklevel=3)
        return None
    say(f"models for seed {seed}: loaded from cache {folder}")
    return models


def _fit(frames: dict[str, pd.DataFrame], cfg: StrategyConfig, period: Any, seed: int, key: str, progress: bool,
         feats: Mapping[str, SymbolFeatures] | None, say: Callable[[str], None]) -> TrainedModels:
    """Train every learner of the registry (MAML, the static net, LightGBM when installed) on ``period``."""
    from maml_strategy.learners import LEARNERS, fit_learner

    say(f"features: {len(frames)} symbol(s), training window {period.train_start.date()}..{period.train_end.date()}")
    prep = prepare_training(frames, cfg, period, seed=seed, feats=feats)
    data = prep.training_data()
    n_tasks = sum(prep.train_sampler.tasks_available.values())
    say(f"training data (seed {seed}): {len(data.y_fit)} rows, {len(data.y_val)} validation rows; "
        f"{len(prep.train_sampler.segments)} meta-training segments, {n_tasks} task placements")
    learners: dict[str, Any] = {}
    for kind, spec in LEARNERS.items():
        if not spec.fit:
            continue
        if not spec.available():
            say(f"{kind} skipped: {spec.missing()}")
            continue
        say(f"training {kind} (seed {seed})")
        learners[kind] = fit_learner(kind, data, cfg, seed=seed, progress=progress, say=say)
    history = {
        **{kind: (learners[kind].history if kind in learners else None) for kind, s in LEARNERS.items() if s.fit},
        "symbols": prep.pooled.symbols,
        "train_tasks": prep.train_sampler.summary(),
        "val_tasks": prep.val_sampler.summary(),
        "n_train_rows": int(len(data.y_fit)),
        "n_val_rows": int(len(data.y_val)),
    }
    return TrainedModels(learners, key, history, False)
