"""Fit scaler, static model and MAML on the training window only, with an on-disk cache.

Nothing after ``period.train_end`` is passed to any function here: features,
regime labels and forward-return labels are computed on ``df.loc[:train_end]``,
so labels whose horizon would cross ``train_end`` are NaN and unused.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import maml_strategy
from maml_strategy.config import StrategyConfig, config_to_dict
from maml_strategy.errors import DataError
from maml_strategy.features import FeatureScaler, MultiTimeframeExtractor, forward_returns
from maml_strategy.regime import RegimeDetector, RegimeSegment

__all__ = [
    "Dataset", "Prepared", "TrainedModels", "build_dataset", "cache_key", "prepare_training", "train_models",
]

log = logging.getLogger(__name__)
_PKG_DIR = Path(maml_strategy.__file__).resolve().parent


@dataclass
class Dataset:
    """Training-window arrays, aligned row by row with ``index``."""

    index: pd.DatetimeIndex
    x: np.ndarray  # [n, D] raw (unscaled) flat features, NaN where invalid
    y: np.ndarray  # [n] labels, NaN where unknown inside the training window
    valid: np.ndarray  # [n] bool: finite features and label, inside [train_start, train_end]
    segments: list[RegimeSegment]  # causal regime segments over the whole frame
    feature_names: list[str]
    n_cross: int  # cross-timeframe features at the end of each row


@dataclass
class TrainedModels:
    """What the backtest needs from training."""

    maml: Any  # maml_strategy.maml.MAML
    static: Any  # maml_strategy.training.StaticModel
    key: str  # cache key
    history: dict[str, Any]  # training curves and task counts
    cached: bool  # loaded from the cache


def _code_hash() -> str:
    h = hashlib.sha256()
    for p in sorted(_PKG_DIR.rglob("*.py")):
        if "live" in p.relative_to(_PKG_DIR).parts:
            continue
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def cache_key(df: pd.DataFrame, cfg: StrategyConfig, period: Any, seed: int) -> str:
    """Hash of config + training data + code version + seed: a changed input never reuses a model."""
    h = hashlib.sha256()
    train = df.loc[: period.train_end, ["open", "high", "low", "close", "volume"]]
    h.update(np.ascontiguousarray(train.to_numpy()).tobytes())
    h.update(np.asarray(train.index.asi8).tobytes())
    meta = {
        "regime": config_to_dict(cfg.regime), "features": config_to_dict(cfg.features),
        "maml": config_to_dict(cfg.maml), "static": config_to_dict(cfg.static), "model": config_to_dict(cfg.model),
        "tasks": config_to_dict(cfg.tasks),
        "period": [str(period.train_start.date()), str(period.val_start.date()), str(period.train_end.date())],
        "seed": seed, "version": maml_strategy.__version__, "code": _code_hash(),
    }
    h.update(json.dumps(meta, sort_keys=True).encode())
    return h.hexdigest()[:20]


def build_dataset(df: pd.DataFrame, cfg: StrategyConfig, train_start: pd.Timestamp, train_end: pd.Timestamp) -> Dataset:
    """Features, labels and regime segments from ``df.loc[:train_end]`` only.

    Rows before ``train_start`` serve as indicator warm-up and are never training samples.
    """
    hist = df.loc[:train_end, ["open", "high", "low", "close", "volume"]]
    extractor = MultiTimeframeExtractor(timeframes=tuple(cfg.features.timeframes))
    detector = RegimeDetector(cfg.regime)
    need = max(extractor.min_history, detector.warmup)
    if len(hist.loc[:train_start]) < need // 2:
        log.warning("only %d bars of history before %s; the first training rows are warm-up",
                    len(hist.loc[:train_start]), train_start.date())
    feats = extractor.transform(hist)
    x = feats.flat()
    y = forward_returns(hist, cfg.features.horizon, cfg.features.vol_window).to_numpy()
    inside = np.asarray(hist.index >= train_start)
    valid = feats.valid & np.isfinite(y) & inside
    if valid.sum() < 200:
        raise DataError(
            f"only {int(valid.sum())} usable training rows between {train_start.date()} and {train_end.date()}; "
            f"the model needs >= 200: use a longer training window (and >= {need} bars of warm-up before it)"
        )
    segments = detector.segment_by_regime(hist, min_length=1)
    names = [f"{tf}_{n}" for tf in cfg.features.timeframes for n in extractor.feature_names]
    names += list(extractor.cross_feature_names)
    return Dataset(hist.index, x, y, valid, segments, names, len(extractor.cross_feature_names))


def _clip_segments(
    segments: list[RegimeSegment], index: pd.DatetimeIndex, lo: int, hi: int, extend_back: int = 0
) -> list[RegimeSegment]:
    """Segments restricted to row positions ``[lo, hi]``, optionally started ``extend_back`` rows earlier."""
    out = []
    for s in segments:
        a, b = max(s.start_pos - extend_back, lo), min(s.end_pos, hi)
        if b >= a:
            out.append(dataclasses.replace(s, start_pos=a, end_pos=b, n_bars=b - a + 1,
                                           start=index[a], end=index[b]))
    return out


@dataclass
class Prepared:
    """Scaled training arrays and task samplers for one period (all from the training window)."""

    dataset: Dataset
    scaler: FeatureScaler
    x: np.ndarray  # [n, D] scaled features (NaN rows where invalid)
    y: np.ndarray  # [n] labels (NaN where unknown or outside the training window)
    val_pos: int  # first row of the validation years
    train_sampler: Any  # TaskSampler over meta-training segments (labels end before validation)
    val_sampler: Any  # TaskSampler over validation-year segments
    model_kwargs: dict[str, Any]  # HierarchicalTimeframeNet arguments


def prepare_training(df: pd.DataFrame, cfg: StrategyConfig, period: Any, *, seed: int = 0) -> Prepared:
    """Features, scaler, labels and task samplers for ``period`` (nothing after ``train_end``).

    Meta-training tasks come from segments before the validation years, with every
    label ending ``horizon`` bars before validation starts; validation tasks come from
    the validation years. The scaler is fitted on the training window's valid rows.
    """
    from maml_strategy.tasks import TaskSampler

    ds = build_dataset(df, cfg, period.train_start, period.train_end)
    scaler = FeatureScaler().fit(ds.x[ds.valid])
    xs = scaler.transform(np.nan_to_num(ds.x, nan=0.0))
    y = np.where(ds.valid, ds.y, np.nan).astype(np.float32)
    xs[~ds.valid] = np.nan

    h = cfg.features.horizon
    pos = np.arange(len(ds.index))
    val_pos = int(np.searchsorted(ds.index, period.val_start))
    train_lo = int(np.searchsorted(ds.index, period.train_start))
    y_meta = y.copy()
    y_meta[pos >= val_pos - h] = np.nan
    y_val = y.copy()
    y_val[pos < val_pos] = np.nan
    K, Q = cfg.maml.support_size, cfg.maml.query_size
    back = K + h if cfg.tasks.support_from_previous_regime else 0
    train_segs = _clip_segments(ds.segments, ds.index, train_lo, val_pos - h - 1, back)
    val_segs = _clip_segments(ds.segments, ds.index, val_pos, len(pos) - 1, back)
    T = len(cfg.features.timeframes)
    model_kwargs = {"num_timeframes": T, "features_per_tf": (xs.shape[1] - ds.n_cross) // T,
                    "cross_tf_features": ds.n_cross, "hidden_dim": cfg.model.hidden_dim,
                    "tf_hidden_dim": cfg.model.tf_hidden_dim}
    sampler = TaskSampler(train_segs, xs, y_meta, support_size=K, query_size=Q, horizon=h, seed=seed)
    val_sampler = TaskSampler(val_segs, xs, y_val, support_size=K, query_size=Q, horizon=h, seed=seed + 10_000)
    return Prepared(ds, scaler, xs, y, val_pos, sampler, val_sampler, model_kwargs)


def train_models(
    df: pd.DataFrame,
    cfg: StrategyConfig,
    period: Any,
    *,
    seed: int = 0,
    cache_dir: str | Path | None = "backtests/cache",
    progress: bool = False,
) -> TrainedModels:
    """Train (or load from cache) the MAML and static models for ``period``.

    Args:
        df: full OHLCV history (anything after ``period.train_end`` is ignored).
        cfg: strategy configuration (feature, regime, maml and static sections are used).
        period: a :class:`~maml_strategy.backtest.periods.Period`.
        seed: seed for both models.
        cache_dir: folder for cached model files (None disables caching).
        progress: show tqdm progress bars.

    Returns:
        :class:`TrainedModels`.

    Example:
        >>> models = train_models(load_ohlcv("SPY"), load_config(), periods["2008"])  # doctest: +SKIP
    """
    import torch

    from maml_strategy.maml import MAML
    from maml_strategy.model import HierarchicalTimeframeNet
    from maml_strategy.training import StaticModel, train_static

    key = cache_key(df, cfg, period, seed)
    folder = None if cache_dir is None else Path(cache_dir) / key
    if folder is not None and (folder / "maml.pt").is_file() and (folder / "static.pt").is_file():
        hist = json.loads((folder / "history.json").read_text()) if (folder / "history.json").is_file() else {}
        return TrainedModels(MAML.load(folder / "maml.pt"), StaticModel.load(folder / "static.pt"), key, hist, True)

    prep = prepare_training(df, cfg, period, seed=seed)
    ds, xs, y = prep.dataset, prep.x, prep.y
    mcfg = dataclasses.replace(cfg.maml, seed=seed)
    torch.manual_seed(seed)
    net = HierarchicalTimeframeNet(**prep.model_kwargs)
    maml = MAML(net, mcfg, scaler=prep.scaler, feature_names=ds.feature_names)
    maml_hist = maml.meta_train(prep.train_sampler, mcfg.meta_epochs, val_sampler=prep.val_sampler, progress=progress)

    keep = ds.valid
    pos = np.arange(len(ds.index))
    # the static model's time-ordered validation split = the same validation years
    val_frac = float((keep & (pos >= prep.val_pos)).sum()) / float(keep.sum())
    scfg = dataclasses.replace(cfg.static, seed=seed, horizon=cfg.features.horizon,
                               val_fraction=min(max(val_frac, 0.05), 0.5))
    static = train_static(xs[keep], y[keep], scfg, scaler=prep.scaler, feature_names=ds.feature_names,
                          model_kwargs=prep.model_kwargs)
    history = {
        "maml": maml_hist if isinstance(maml_hist, (dict, list)) else str(maml_hist),
        "static": getattr(static, "history", None),
        "train_tasks": prep.train_sampler.summary(),
        "val_tasks": prep.val_sampler.summary(),
        "n_train_rows": int(keep.sum()),
    }
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        maml.save(folder / "maml.pt")
        static.save(folder / "static.pt")
        (folder / "history.json").write_text(json.dumps(history, default=str, indent=1))
    return TrainedModels(maml, static, key, history, False)

