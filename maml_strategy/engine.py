"""Per-bar decision engine shared by backtests and live trading (no backtrader here).

:class:`SignalEngine` consumes one daily bar at a time and returns a
:class:`Decision`: the confirmed regime, whether this bar confirmed a
transition, the model's prediction and the target exposure. On a confirmed
transition (and every ``readapt_every`` bars when set) it adapts the model on
the trailing support window: the last ``support_size`` samples whose labels
are fully known at this bar (sample ``i`` is known at bar ``t`` iff
``i + lag <= t``, :func:`~maml_strategy.precompute.support_positions`).

One decision core, two row sources: :class:`StreamingRows` computes regime and
features per bar from bounded buffers (live, drop-in; the work per bar does not
grow with the history); :class:`PrecomputedRows` looks them up in a
:class:`Precomputed` series and batches the adaptations (backtests). Both give
:meth:`SignalEngine.on_bar` a :class:`BarRow` and a :class:`Support` through the
same support rule.

Example:
    >>> from maml_strategy.engine import SignalEngine  # doctest: +SKIP
    >>> engine = SignalEngine(learner, adapt=True)  # doctest: +SKIP
    >>> for row in df.itertuples():  # doctest: +SKIP
    ...     decision = engine.on_bar(row.Index, row.open, row.high, row.low, row.close, row.volume)
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from maml_strategy.config import FeatureConfig, TradingConfig
from maml_strategy.errors import ConfigError
from maml_strategy.features import MultiTimeframeExtractor, make_labels, support_history
from maml_strategy.features.scaler import FeatureScaler
from maml_strategy.positions import PositionMapper, exposure_from_prediction
from maml_strategy.learners.protocol import LearnerProtocol
from maml_strategy.precompute import AdaptationPlanner, Precomputed, support_positions
from maml_strategy.regime import Regime, RegimeConfig, RegimeDetector

__all__ = ["Decision", "AdaptationRecord", "Precomputed", "SignalEngine", "exposure_from_prediction",
           "PositionMapper", "BarRow", "Support", "StreamingRows", "PrecomputedRows"]


@dataclass
class AdaptationRecord:
    """One adaptation: when, why, and what it did to the support loss."""

    date: str  # bar date (ISO) at whose close the adaptation ran
    from_regime: str | None  # previous confirmed regime (None at the first confirmation)
    to_regime: str  # newly confirmed regime
    reason: str  # "transition" or "readapt"
    support_start: str  # first support sample date
    support_end: str  # last support sample date (its label ended at or before `date`)
    n_support: int  # samples used
    loss_before: float  # support loss with the starting parameters
    loss_after: float  # support loss after adaptation
    ms: float  # wall-clock milliseconds spent adapting

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON/CSV."""
        return asdict(self)


@dataclass
class Decision:
    """What the engine decided at the close of one bar."""

    date: pd.Timestamp
    regime: Regime | None  # confirmed regime after this bar (None in warm-up)
    transition: bool  # this bar confirmed a new regime
    prediction: float  # model output (vol-scaled forward return); NaN when no features yet
    target: float  # target exposure as a fraction of portfolio value
    adaptation: AdaptationRecord | None  # set when this bar adapted the model


#: rows predicted at once on the precomputed path (one matrix product instead of one per bar)
PREDICT_CHUNK = 256


class _Ring:
    """Append-only numpy buffer keeping the last ``size`` rows contiguous (amortised O(1) append)."""

    def __init__(self, size: int, width: int, dtype: Any) -> None:
        self.size = size
        self._buf = np.empty((2 * size, width), dtype=dtype)
        self._end = 0

    def append(self, row: Any) -> None:
        if self._end == len(self._buf):
            self._buf[: self.size - 1] = self._buf[self._end - self.size + 1 : self._end]
            self._end = self.size - 1
        self._buf[self._end] = row
        self._end += 1

    def __len__(self) -> int:
        return min(self._end, self.size)

    def last(self, n: int) -> np.ndarray:
        """View of the last ``n`` rows (oldest first)."""
        n = min(n, len(self))
        return self._buf[self._end - n : self._end]


class _ListRing:
    """:class:`_Ring`'s interface over a list: cheap appends, arrays built only when read.

    The precomputed path reads its bar buffers only to re-adapt, so it buffers bars here.
    """

    def __init__(self, size: int, width: int, dtype: Any) -> None:
        self.size, self.width, self.dtype = size, width, dtype
        self._rows: list[Any] = []

    def append(self, row: Any) -> None:
        rows = self._rows
        rows.append(row)
        if len(rows) >= 2 * self.size:
            del rows[: len(rows) - self.size]

    def __len__(self) -> int:
        return min(len(self._rows), self.size)

    def last(self, n: int) -> np.ndarray:
        """The last ``n`` rows (oldest first), as a new array."""
        n = min(n, len(self))
        return np.array(self._rows[len(self._rows) - n :], dtype=self.dtype).reshape(n, self.width)


@dataclass
class BarRow:
    """What a row source gives the decision core for one bar."""

    regime: Regime | None  # confirmed regime after this bar (None in warm-up)
    transition: bool  # this bar confirmed a new regime
    scaled: np.ndarray | None  # the scaled feature row (None: no learner or no valid features yet)
    i: int  # the bar's row: its position in the bar stream (streaming) or in the series (precomputed)


@dataclass
class Support:
    """An adaptation on the support window of one bar (support rule: ``precompute.support_positions``)."""

    params: Any  # the adapted parameters
    dates: list[Any]  # dates of the support samples, oldest first
    loss_before: float
    loss_after: float
    ms: float


class StreamingRows:
    """Row source of the live / drop-in path: regimes and features computed per bar from bounded buffers.

    :meth:`support` applies the one support rule
    (:func:`~maml_strategy.precompute.support_positions`) to the buffered bars, with the
    training label of :func:`~maml_strategy.features.labels.make_labels` computed on them.
    """

    buffer: type = _Ring  # the bar buffers (the feature window reads them every bar)

    def __init__(self, engine: SignalEngine) -> None:
        self.engine = engine
        e, h, vw = engine, engine.features_cfg.lag, engine.features_cfg.vol_window
        self.n_keep = support_history(e.support_size, h, vw)  # bars behind one support window
        # bars kept: the feature window, or enough for K labels (+ their vol windows), whichever is larger
        self.max_bars = max(e.extractor.window, self.n_keep)
        self._dates = self.buffer(self.max_bars, 1, "datetime64[ns]")
        self._ohlcv = self.buffer(self.max_bars, 5, np.float64)
        self._rows: deque[np.ndarray | None] = deque(maxlen=e.support_size + h + 1)
        self._n = 0

    def push_bar(self, ts: pd.Timestamp, bar: tuple[float, float, float, float, float]) -> None:
        """Buffer one bar (the feature window's and the support window's history)."""
        self._dates.append(np.datetime64(ts.value, "ns"))
        self._ohlcv.append(bar)

    def push_row(self, scaled: np.ndarray | None) -> int:
        """Buffer the bar's scaled row (None: no valid features); returns the bar's position in the stream."""
        self._rows.append(scaled)
        self._n += 1
        return self._n - 1

    def row(self, ts: pd.Timestamp, bar: tuple[float, float, float, float, float]) -> BarRow:
        """Regime, transition and scaled features of this bar, computed on the buffered bars."""
        e = self.engine
        self.push_bar(ts, bar)
        regime = e.detector.update({"high": bar[1], "low": bar[2], "close": bar[3]})
        raw = self._feature_row() if e.learner is not None else None
        scaled = None if raw is None else self.scale(raw)
        return BarRow(regime, bool(e.detector.transition), scaled, self.push_row(scaled))

    def _feature_row(self) -> np.ndarray | None:
        ex = self.engine.extractor
        if len(self._ohlcv) < ex.min_history:
            return None
        n = ex.window
        row = ex.transform_last_arrays(self._dates.last(n)[:, 0], self._ohlcv.last(n)).flat()
        return row if np.isfinite(row).all() else None

    def scale(self, row: np.ndarray) -> np.ndarray:
        """The learner's scaling of one raw feature row."""
        scaler = getattr(self.engine.learner, "scaler", None)
        return scaler.transform(row[None, :])[0] if scaler is not None else row.astype(np.float32)

    def support_window(self) -> tuple[np.ndarray, np.ndarray, list[pd.Timestamp]]:
        """The last ``support_size`` (scaled features, labels, dates) whose labels are known now."""
        e = self.engine
        bars, dates = self._ohlcv.last(self.n_keep), self._dates.last(self.n_keep)[:, 0]
        labels = make_labels(pd.DataFrame({"open": bars[:, 0], "close": bars[:, 3]}), e.features_cfg).to_numpy()
        rows, n = list(self._rows), len(bars)
        off = n - len(rows)  # rows[j] is the scaled row of buffered bar j + off; the newest bar is n - 1
        valid = np.isfinite(labels)
        valid[:off] = False
        valid[off:] &= np.array([r is not None for r in rows], dtype=bool)
        sup = support_positions(n - 1, 0, valid, support_size=e.support_size, horizon=e.features_cfg.lag,
                                vol_window=e.features_cfg.vol_window)
        xs = np.asarray([rows[p - off] for p in sup], dtype=np.float32)
        return xs, labels[sup].astype(np.float32), [dates[p] for p in sup]

    def support(self, bar: BarRow, reason: str) -> Support | None:
        """Adapt on the support window at this bar (None: too little known history)."""
        del bar, reason
        e = self.engine
        sx, sy, ds = self.support_window()
        if len(sy) < max(2, e.support_size // 2):
            return None  # too little known history: keep the current parameters
        learner, x, y = e.learner, torch.from_numpy(sx), torch.from_numpy(sy)
        assert learner is not None  # internal invariant: adapt_enabled implies a learner
        t0 = time.perf_counter()
        before = learner.support_loss(x, y, None)
        params = learner.adapt(x, y, steps=e.trading.adapt_steps, lr=e.trading.adapt_lr)
        ms = (time.perf_counter() - t0) * 1e3
        return Support(params, ds, before, learner.support_loss(x, y, params), ms)

    def predict(self, bar: BarRow, params: Any) -> float:
        """The learner's prediction for this bar's scaled row."""
        assert bar.scaled is not None and self.engine.learner is not None
        with torch.no_grad():
            return float(self.engine.learner.predict(torch.from_numpy(bar.scaled[None, :]), params)[0])


class PrecomputedRows(StreamingRows):
    """Row source of backtests: rows of a :class:`Precomputed` series looked up by date.

    With labels (``pre.y``) the adaptations of transitions are planned in batches
    (:class:`AdaptationPlanner`, the same support rule on the series) and predictions
    are computed ``PREDICT_CHUNK`` rows at a time; re-adaptations (and series without
    labels) use the buffered bars, as the streaming source does.
    """

    buffer = _ListRing  # read only to re-adapt

    def __init__(self, engine: SignalEngine, pre: Precomputed) -> None:
        super().__init__(engine)
        self.pre = pre
        self.planner: AdaptationPlanner | None = None
        self._next: int | None = None  # the expected row of the next bar (None before the first)
        # per-row lookups as python lists (no numpy scalar per bar): valid features, regime, transition
        self._ok = np.isfinite(pre.x).all(axis=1).tolist()
        regimes = [None] + [Regime.from_code(c) for c in range(6)]  # by code + 1 (-1: warm-up)
        self._regime = [regimes[c] for c in (np.asarray(pre.regime, dtype=np.int64) + 1).tolist()]
        self._transition = np.asarray(pre.transition, dtype=bool).tolist()
        self._preds: tuple[Any, int, np.ndarray] | None = None  # (params, first row, predictions) chunk

    def row(self, ts: pd.Timestamp, bar: tuple[float, float, float, float, float]) -> BarRow:
        """Regime, transition and scaled features of this bar's precomputed row."""
        e, pre = self.engine, self.pre
        i = pre.locate(ts, self._next or 0)
        if self._next is None and e.learner is not None and pre.y is not None:
            f = e.features_cfg
            self.planner = AdaptationPlanner(e.learner, pre, i, support_size=e.support_size, horizon=f.lag,
                                             vol_window=f.vol_window, steps=e.trading.adapt_steps,
                                             lr=e.trading.adapt_lr)
        self._next = i + 1
        scaled = None
        if e.learner is not None and self._ok[i]:
            scaled = self.planner.scaled[i] if self.planner is not None else self.scale(pre.x[i])
        self.push_bar(ts, bar)
        self.push_row(scaled)
        return BarRow(self._regime[i], self._transition[i], scaled, i)

    def support(self, bar: BarRow, reason: str) -> Support | None:
        """The planned adaptation of a transition, else the buffered support window."""
        if self.planner is None or reason != "transition":
            return super().support(bar, reason)
        plan = self.planner.get(bar.i)  # computed in one batch with the other transitions
        if plan is None:
            return None
        return Support(plan.params, list(self.pre.dates[plan.support]), plan.loss_before, plan.loss_after, plan.ms)

    def predict(self, bar: BarRow, params: Any) -> float:
        """Prediction for row ``bar.i``, computed for the next ``PREDICT_CHUNK`` rows at once
        and reused until the parameters change."""
        if self.planner is None:
            return super().predict(bar, params)
        assert self.engine.learner is not None
        i, cached = bar.i, self._preds
        if cached is None or cached[0] is not params or not 0 <= i - cached[1] < len(cached[2]):
            with torch.no_grad():
                preds = self.engine.learner.predict(torch.from_numpy(self.planner.scaled[i : i + PREDICT_CHUNK]),
                                                    params).numpy()
            cached = self._preds = (params, i, preds)
        return float(cached[2][i - cached[1]])


class SignalEngine:
    """Streaming regime -> features -> (adapt) -> prediction -> exposure.

    One decision core (:meth:`on_bar`) over a row source: :class:`StreamingRows`
    (live, drop-in) or :class:`PrecomputedRows` (backtests).

    Args:
        learner: a fitted ``MAML`` or ``StaticModel`` (with its scaler), or None
            for a model-free engine that only tracks regimes.
        adapt: adapt on confirmed transitions (MAML / naive fine-tuning) or never (static).
        regime: detector settings.
        features: feature/label settings (must match the model's training).
        trading: exposure mapping (``position_mode``, applied by ``self.positions``, a
            :class:`~maml_strategy.positions.PositionMapper`) and adaptation settings.
        support_size: K, samples in the support window.
        signal_scale: prediction units per unit of exposure in ``position_mode="linear"``
            (nothing calibrates it: set it, e.g. to the spread of validation-year
            predictions); overrides ``trading.signal_scale``.
        precomputed: features and regimes of the whole series, looked up by date
            instead of computed per bar (backtests); None = streaming (drop-in, live).

    Example:
        >>> engine = SignalEngine(None, adapt=False)
        >>> engine.on_bar("2020-01-02", 1.0, 1.1, 0.9, 1.0, 100.0).target
        0.0
    """

    def __init__(
        self,
        learner: LearnerProtocol | None,
        *,
        adapt: bool = True,
        regime: RegimeConfig | None = None,
        features: FeatureConfig | None = None,
        trading: TradingConfig | None = None,
        support_size: int = 32,
        signal_scale: float | None = None,
        precomputed: Precomputed | None = None,
    ) -> None:
        if support_size < 2:
            raise ConfigError(f"support_size must be >= 2, got {support_size}")
        self.learner = learner
        self.adapt_enabled = bool(adapt) and learner is not None
        self.features_cfg = features or FeatureConfig()
        self.trading = trading or TradingConfig()
        self.support_size = int(support_size)
        self.signal_scale = float(signal_scale) if signal_scale else self.trading.signal_scale
        if not self.signal_scale > 0:
            raise ConfigError(f"signal_scale must be > 0, got {signal_scale}")
        self.detector = RegimeDetector(regime or RegimeConfig())
        self.extractor = MultiTimeframeExtractor(timeframes=tuple(self.features_cfg.timeframes))
        self.params: dict[str, torch.Tensor] | None = None  # None = the learner's own parameters
        self.adaptations: list[AdaptationRecord] = []
        self.positions = PositionMapper(self.trading, self.signal_scale)  # trading.position_mode, stateful
        self.precomputed = precomputed
        self.source = StreamingRows(self) if precomputed is None else PrecomputedRows(self, precomputed)
        self._bars_since_adapt = 0
        self._prev_regime: Regime | None = None

    def support_window(self) -> tuple[np.ndarray, np.ndarray, list[pd.Timestamp]]:
        """The last ``support_size`` (scaled features, labels, dates) whose labels are known now.

        Sample ``i`` has the training label of :func:`~maml_strategy.features.labels.make_labels`
        (``features.label``), computed on the buffered bars; only samples with
        ``i + features.lag <= t`` are used (:func:`~maml_strategy.precompute.support_positions`).
        """
        return self.source.support_window()

    def _adapt(self, ts: pd.Timestamp, bar: BarRow) -> AdaptationRecord | None:
        """Adapt on a confirmed transition (or every ``readapt_every`` bars); None when it does not."""
        if not self.adapt_enabled or bar.regime is None:
            return None
        self._bars_since_adapt += 1
        every = self.trading.readapt_every
        reason = "transition" if bar.transition else "readapt" if every and self._bars_since_adapt >= every else None
        sup = None if reason is None else self.source.support(bar, reason)
        if sup is None:
            return None
        self._bars_since_adapt = 0
        self.params = sup.params
        rec = AdaptationRecord(
            date=str(ts.date()), from_regime=None if self._prev_regime is None else self._prev_regime.value,
            to_regime=bar.regime.value, reason=str(reason), support_start=str(pd.Timestamp(sup.dates[0]).date()),
            support_end=str(pd.Timestamp(sup.dates[-1]).date()), n_support=len(sup.dates),
            loss_before=float(sup.loss_before), loss_after=float(sup.loss_after), ms=float(sup.ms))
        self.adaptations.append(rec)
        return rec

    # ------------------------------------------------------------------- public
    def on_bar(self, date: Any, open_: float, high: float, low: float, close: float, volume: float) -> Decision:
        """Consume the bar that just closed and decide the target exposure.

        Args:
            date: bar date.
            open_, high, low, close, volume: the bar.

        Returns:
            The :class:`Decision` at this bar's close (to be executed at the next open).
        """
        ts = pd.Timestamp(date)
        bar = self.source.row(ts, (float(open_), float(high), float(low), float(close), float(volume)))
        record = self._adapt(ts, bar)
        if bar.transition:
            self._prev_regime = bar.regime
        pred = float("nan") if bar.scaled is None else self.source.predict(bar, self.params)
        target = 0.0
        if self.learner is not None:  # every bar, so the mapper's trailing closes have no gaps (NaN pred -> 0)
            target = self.positions.update(pred, close)
            if bar.regime is not None and bar.regime.value in self.trading.flat_regimes:
                target = 0.0
        return Decision(ts, bar.regime, bar.transition, pred, target, record)
