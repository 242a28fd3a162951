"""The one dataset pipeline: per-symbol causal arrays, pooled over a universe, masked per window.

Every consumer — the backtest's training, the few-shot scripts, the walk-forward,
the boosted-trees control — builds its arrays here, so they cannot drift.

1. :func:`symbol_features` computes, once per symbol, the raw feature rows, the
   forward-return labels and the confirmed regime of every bar. Features and
   regimes are causal (row ``t`` uses bars ``<= t`` only); the label of row ``i``
   is known at bar ``i + lag`` (:func:`~maml_strategy.features.labels.known_at`) and
   is masked per window below.
2. :func:`pool_windows` concatenates the symbols' rows inside a date range, fits
   one scaler on the fitting window's valid rows, and returns, per named window,
   labels that are NaN outside it or not known by its last day, and the
   regime segments clipped to it. Features are scale-free, so one scaler and one
   model serve the whole universe.

Example:
    >>> from maml_strategy.data import synthetic_ohlcv
    >>> from maml_strategy.config import StrategyConfig
    >>> cfg = StrategyConfig()
    >>> sf = symbol_features(synthetic_ohlcv(900, seed=1).drop(columns="regime"), cfg, "SYN")
    >>> sf.x.shape[1] == len(sf.feature_names)
    True
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from maml_strategy.errors import DataError
from maml_strategy.features import FeatureScaler, MultiTimeframeExtractor, known_at, make_labels
from maml_strategy.regime import RegimeDetector, RegimeSegment
from maml_strategy.regime.detector import segments_from_codes

__all__ = ["SymbolFeatures", "PooledWindows", "symbol_features", "pool_windows", "feature_layout", "window_labels"]


@dataclass
class SymbolFeatures:
    """Causal per-bar arrays of one symbol over its whole loaded history."""

    symbol: str
    index: pd.DatetimeIndex  # the frame's dates
    x: np.ndarray  # [n, D] float64 raw (unscaled) features, NaN rows where not yet valid
    y: np.ndarray  # [n] float64 label: vol-scaled return over the next `horizon` bars (NaN at the end)
    regime: np.ndarray  # [n] int8 confirmed regime code (-1 during warm-up)
    transition: np.ndarray  # [n] bool: this bar confirmed a new regime
    feature_names: list[str]
    n_cross: int  # cross-timeframe features at the end of each row
    horizon: int  # the label's lag (``features.lag``): row i's label is known at bar i + horizon

    def pos(self, date: Any, side: str = "left") -> int:
        """Row position of ``date`` (``searchsorted``)."""
        return int(np.searchsorted(self.index.values, np.datetime64(pd.Timestamp(date), "ns"), side=side))


def feature_layout(cfg: Any) -> tuple[list[str], int, dict[str, Any]]:
    """Feature names, number of cross features and network arguments for a config.

    Example:
        >>> from maml_strategy.config import StrategyConfig
        >>> names, n_cross, kw = feature_layout(StrategyConfig())
        >>> len(names), names[0], n_cross, kw["features_per_tf"]
        (143, 'D:ret_1', 8, 45)
    """
    ex = MultiTimeframeExtractor(timeframes=tuple(cfg.features.timeframes))
    names = ex.flat_feature_names  # the one spelling: "<tf>:<name>", "cross:<name>"
    n_cross = len(ex.cross_feature_names)
    T = len(cfg.features.timeframes)
    kwargs = {"num_timeframes": T, "features_per_tf": (len(names) - n_cross) // T, "cross_tf_features": n_cross,
              "hidden_dim": cfg.model.hidden_dim, "tf_hidden_dim": cfg.model.tf_hidden_dim}
    return names, n_cross, kwargs


def symbol_features(df: pd.DataFrame, cfg: Any, symbol: str = "") -> SymbolFeatures:
    """Features, labels and regimes of every bar of ``df`` (computed once, causal).

    Args:
        df: validated OHLCV frame (see :func:`maml_strategy.data.load_ohlcv`).
        cfg: a :class:`~maml_strategy.config.StrategyConfig` (features and regime sections).
        symbol: name used in messages.

    Returns:
        :class:`SymbolFeatures`.
    """
    hist = df[["open", "high", "low", "close", "volume"]]
    extractor = MultiTimeframeExtractor(timeframes=tuple(cfg.features.timeframes))
    feats = extractor.transform(hist)
    x = feats.flat().astype(np.float64, copy=True)
    x[~feats.valid] = np.nan
    y = make_labels(hist, cfg.features).to_numpy(dtype=np.float64)
    detector = RegimeDetector(cfg.regime)
    if len(hist) > detector.warmup:
        codes, trans = detector.label_codes(hist)
    else:
        codes, trans = np.full(len(hist), -1, np.int8), np.zeros(len(hist), bool)
    names, n_cross, _ = feature_layout(cfg)
    return SymbolFeatures(symbol, hist.index, x, y, np.asarray(codes, np.int8), np.asarray(trans, bool),
                          names, n_cross, cfg.features.lag)


@dataclass
class PooledWindows:
    """Rows of many symbols, one scaler, labels and segments per named window.

    Row ``r`` of every array belongs to symbol ``symbols[symbol_id[r]]`` at date ``dates[r]``.
    """

    symbols: list[str]
    x: np.ndarray  # [N, D] float32 scaled features, NaN rows where invalid
    symbol_id: np.ndarray  # [N] int32
    dates: np.ndarray  # [N] datetime64[ns]
    labels: dict[str, np.ndarray]  # window -> [N] float32 labels, NaN outside the window
    segments: dict[str, list[RegimeSegment]]  # window -> segments (pooled row positions), clipped to the window
    segment_symbol: dict[str, list[str]]  # window -> the symbol of each segment
    scaler: FeatureScaler
    feature_names: list[str]
    n_cross: int
    model_kwargs: dict[str, Any] = field(default_factory=dict)

    def rows(self, window: str) -> np.ndarray:
        """Pooled row positions with a finite feature row and a label in ``window``."""
        y = self.labels[window]
        return np.flatnonzero(np.isfinite(y) & np.isfinite(self.x).all(axis=1))


def window_labels(sf: SymbolFeatures, lo: Any, hi: Any) -> np.ndarray:
    """Labels of rows dated in ``[lo, hi]`` known by the window's last bar (:func:`known_at`); NaN elsewhere.

    The one masking rule at a window's end: training, validation and test windows alike.
    """
    lo, hi = pd.Timestamp(lo), pd.Timestamp(hi)
    a, b = sf.pos(lo), sf.pos(hi, side="right")  # rows [a, b) are inside
    pos = np.arange(len(sf.y))
    return np.where((pos >= a) & known_at(pos, b - 1, sf.horizon), sf.y, np.nan)


def pool_windows(
    feats: Mapping[str, SymbolFeatures] | Sequence[SymbolFeatures],
    windows: Mapping[str, tuple[Any, Any]],
    *,
    fit_window: str,
    cfg: Any,
    extend_back: int = 0,
    min_rows: int = 200,
) -> PooledWindows:
    """Pool symbols' rows over the union of ``windows`` and mask labels per window.

    Args:
        feats: per-symbol arrays from :func:`symbol_features`.
        windows: ``name -> (first day, last day)``, inclusive.
        fit_window: the window whose valid rows fit the scaler (the training window).
        cfg: the strategy config (for the network arguments).
        extend_back: start each clipped segment this many rows earlier (support drawn
            from the previous regime), never before its window.
        min_rows: raise if the fitting window has fewer usable rows in total.

    Returns:
        :class:`PooledWindows`.

    Raises:
        DataError: no symbol has rows in the windows, or too few usable fitting rows.
    """
    items = list(feats.values()) if isinstance(feats, Mapping) else list(feats)
    if not items:
        raise DataError("no symbols to pool; give at least one symbol with data")
    bounds = {k: (pd.Timestamp(a), pd.Timestamp(b)) for k, (a, b) in windows.items()}
    lo = min(a for a, _ in bounds.values())
    hi = max(b for _, b in bounds.values())
    xs, sids, dates, labels, segs, seg_sym = [], [], [], {k: [] for k in bounds}, {k: [] for k in bounds}, {k: [] for k in bounds}
    offset = 0
    symbols = []
    for sf in items:
        a, b = sf.pos(lo), sf.pos(hi, side="right")
        if b <= a:
            continue
        sid = len(symbols)
        symbols.append(sf.symbol)
        xs.append(sf.x[a:b])
        sids.append(np.full(b - a, sid, np.int32))
        dates.append(sf.index.values[a:b])
        all_segs = segments_from_codes(sf.regime[:b], sf.index[:b])
        for name, (wa, wb) in bounds.items():
            labels[name].append(window_labels(sf, wa, wb)[a:b])
            p0, p1 = max(sf.pos(wa), a), sf.pos(wb, side="right") - 1
            for s in all_segs:
                s0, s1 = max(s.start_pos - extend_back, p0), min(s.end_pos, p1)
                if s1 >= s0:
                    segs[name].append(dataclasses.replace(
                        s, start_pos=s0 - a + offset, end_pos=s1 - a + offset, n_bars=s1 - s0 + 1,
                        start=sf.index[s0], end=sf.index[s1]))
                    seg_sym[name].append(sf.symbol)
        offset += b - a
    if not symbols:
        raise DataError(f"no symbol has rows between {lo.date()} and {hi.date()}; load data that cover the windows")
    x = np.concatenate(xs)
    lab = {k: np.concatenate(v).astype(np.float32) for k, v in labels.items()}
    ok = np.isfinite(x).all(axis=1)
    fit = ok & np.isfinite(lab[fit_window])
    if fit.sum() < min_rows:
        wa, wb = bounds[fit_window]
        raise DataError(
            f"only {int(fit.sum())} usable rows (finite features and known labels) between {wa.date()} and {wb.date()} "
            f"over {len(symbols)} symbol(s); need >= {min_rows}: use a longer window or load more warm-up history before it"
        )
    scaler = FeatureScaler().fit(x[fit])
    xs_ = scaler.transform(np.nan_to_num(x, nan=0.0)).astype(np.float32)
    xs_[~ok] = np.nan
    names, n_cross, kwargs = feature_layout(cfg)
    return PooledWindows(symbols, xs_, np.concatenate(sids), np.concatenate(dates), lab, segs, seg_sym, scaler,
                         names, n_cross, kwargs)
