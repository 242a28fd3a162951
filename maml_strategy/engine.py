"""Per-bar decision engine shared by backtests and live trading (no backtrader here).

:class:`SignalEngine` consumes one daily bar at a time and returns a
:class:`Decision`: the confirmed regime, whether this bar confirmed a
transition, the model's prediction and the target exposure. On a confirmed
transition (and every ``readapt_every`` bars when set) it adapts the model on
the trailing support window: the last ``support_size`` samples whose labels
are fully known at this bar (sample ``i`` is known at bar ``t`` iff
``i + horizon <= t``). Everything it uses lives in bounded buffers, so the work
per bar does not grow with the history.

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
from typing import Any, Protocol

import numpy as np
import pandas as pd
import torch

from maml_strategy.config import FeatureConfig, TradingConfig
from maml_strategy.errors import ConfigError
from maml_strategy.features import MultiTimeframeExtractor, make_labels, support_history
from maml_strategy.features.scaler import FeatureScaler
from maml_strategy.positions import PositionMapper, exposure_from_prediction
from maml_strategy.precompute import AdaptationPlanner, Precomputed
from maml_strategy.regime import Regime, RegimeConfig, RegimeDetector

__all__ = ["SupportsAdapt", "Decision", "AdaptationRecord", "Precomputed", "SignalEngine", "exposure_from_prediction",
           "PositionMapper"]


class SupportsAdapt(Protocol):
    """What the engine needs from a model (``MAML`` and ``StaticModel``, i.e. any
    :class:`maml_strategy.learner.Learner`, qualify)."""

    scaler: FeatureScaler | None

    def predict(self, x: torch.Tensor, params: dict[str, torch.Tensor] | None = None) -> torch.Tensor: ...

    def adapt(self, support_x: torch.Tensor, support_y: torch.Tensor, steps: int | None = None,
              lr: float | None = None) -> dict[str, torch.Tensor]: ...

    def support_loss(self, x: torch.Tensor, y: torch.Tensor, params: dict[str, torch.Tensor] | None = None) -> float: ...


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


class SignalEngine:
    """Streaming regime -> features -> (adapt) -> prediction -> exposure.

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
        learner: SupportsAdapt | None,
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
        h, vw = self.features_cfg.lag, self.features_cfg.vol_window
        # bars kept: the feature window, or enough for K labels (+ their vol windows), whichever is larger
        self.max_bars = max(self.extractor.window, support_history(self.support_size, h, vw))
        self._dates = _Ring(self.max_bars, 1, "datetime64[ns]")
        self._ohlcv = _Ring(self.max_bars, 5, np.float64)
        self._rows: deque[np.ndarray | None] = deque(maxlen=self.support_size + h + 1)
        self.params: dict[str, torch.Tensor] | None = None  # None = the learner's own parameters
        self.adaptations: list[AdaptationRecord] = []
        self.positions = PositionMapper(self.trading, self.signal_scale)  # trading.position_mode, stateful
        self.precomputed = precomputed
        self._pre_next = 0
        self._planner: AdaptationPlanner | None = None  # batched adaptations (precomputed with labels)
        self._preds: tuple[Any, int, np.ndarray] | None = None  # (params, first row, predictions) chunk
        self._bars_since_adapt = 0
        self._prev_regime: Regime | None = None

    # ------------------------------------------------------------------ helpers
    def _feature_row(self) -> np.ndarray | None:
        if len(self._ohlcv) < self.extractor.min_history:
            return None
        n = self.extractor.window
        row = self.extractor.transform_last_arrays(self._dates.last(n)[:, 0], self._ohlcv.last(n)).flat()
        if not np.isfinite(row).all():
            return None
        return row

    def support_window(self) -> tuple[np.ndarray, np.ndarray, list[pd.Timestamp]]:
        """The last ``support_size`` (scaled features, labels, dates) whose labels are known now.

        Sample ``i`` has the training label of :func:`~maml_strategy.features.labels.make_labels`
        (``features.label``), computed on the buffered bars; only samples with
        ``i + features.lag <= t`` are used.
        """
        lag, vw = self.features_cfg.lag, self.features_cfg.vol_window
        n_keep = support_history(self.support_size, lag, vw)
        bars = self._ohlcv.last(n_keep)
        dates = self._dates.last(n_keep)[:, 0]
        n = len(bars)
        labels = make_labels(pd.DataFrame({"open": bars[:, 0], "close": bars[:, 3]}), self.features_cfg).to_numpy()
        rows = list(self._rows)
        xs, ys, ds = [], [], []
        # position p in the bar buffer; the newest bar is p = n-1 (= bar t); rows[-1] is bar t too
        for back in range(lag, min(len(rows), n)):
            p = n - 1 - back  # sample i = t - back: its label ends by bar t
            row = rows[len(rows) - 1 - back]
            y = labels[p]
            if row is None or not np.isfinite(y):
                continue
            xs.append(row)
            ys.append(y)
            ds.append(dates[p])
            if len(xs) == self.support_size:
                break
        xs.reverse(), ys.reverse(), ds.reverse()
        return np.asarray(xs, dtype=np.float32), np.asarray(ys, dtype=np.float32), ds

    def _scaled(self, row: np.ndarray) -> np.ndarray:
        scaler = getattr(self.learner, "scaler", None)
        return scaler.transform(row[None, :])[0] if scaler is not None else row.astype(np.float32)

    def _adapt(self, date: pd.Timestamp, regime: Regime, reason: str, row: int | None) -> AdaptationRecord | None:
        assert self.learner is not None  # internal invariant: adapt_enabled implies a learner
        if row is not None and reason == "transition" and self._planner is not None:
            plan = self._planner.get(row)  # computed in one batch with the other transitions
            if plan is None:
                return None
            ds = list(self._planner.pre.dates[plan.support])
            params, n, ms = plan.params, len(plan.support), plan.ms
            loss_before, loss_after = plan.loss_before, plan.loss_after
        else:
            sx, sy, ds = self.support_window()
            if len(sy) < max(2, self.support_size // 2):
                return None  # too little known history: keep the current parameters
            x = torch.from_numpy(sx)
            y = torch.from_numpy(sy)
            t0 = time.perf_counter()
            loss_before = self.learner.support_loss(x, y, None)
            params = self.learner.adapt(x, y, steps=self.trading.adapt_steps, lr=self.trading.adapt_lr)
            ms = (time.perf_counter() - t0) * 1e3
            loss_after = self.learner.support_loss(x, y, params)
            n = len(sy)
        self.params = params
        rec = AdaptationRecord(
            date=str(pd.Timestamp(date).date()),
            from_regime=None if self._prev_regime is None else self._prev_regime.value,
            to_regime=regime.value,
            reason=reason,
            support_start=str(pd.Timestamp(ds[0]).date()),
            support_end=str(pd.Timestamp(ds[-1]).date()),
            n_support=n,
            loss_before=float(loss_before),
            loss_after=float(loss_after),
            ms=float(ms),
        )
        self.adaptations.append(rec)
        return rec

    def _chunk_prediction(self, i: int) -> float:
        """Prediction for precomputed row ``i`` with the current parameters, computed
        for the next ``PREDICT_CHUNK`` rows at once and reused until the parameters change."""
        assert self._planner is not None and self.learner is not None
        cached = self._preds
        if cached is None or cached[0] is not self.params or not 0 <= i - cached[1] < len(cached[2]):
            rows = self._planner.scaled[i : i + PREDICT_CHUNK]
            with torch.no_grad():
                preds = self.learner.predict(torch.from_numpy(rows), self.params).numpy()
            cached = self._preds = (self.params, i, preds)
        return float(cached[2][i - cached[1]])

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
        self._dates.append(np.datetime64(ts.value, "ns"))
        self._ohlcv.append((float(open_), float(high), float(low), float(close), float(volume)))
        if self.precomputed is None:
            regime = self.detector.update({"high": high, "low": low, "close": close})
            transition = bool(self.detector.transition)
            row = self._feature_row() if self.learner is not None else None
        else:
            pre = self.precomputed
            i = pre.locate(ts, self._pre_next)
            if self._pre_next == 0 and self.learner is not None and pre.y is not None:
                self._planner = AdaptationPlanner(
                    self.learner, pre, i, support_size=self.support_size, horizon=self.features_cfg.lag,
                    vol_window=self.features_cfg.vol_window, steps=self.trading.adapt_steps, lr=self.trading.adapt_lr)
            self._pre_next = i + 1
            code = int(pre.regime[i])
            regime = None if code < 0 else Regime.from_code(code)
            transition = bool(pre.transition[i])
            row = None
            if self.learner is not None and np.isfinite(pre.x[i]).all():
                row = pre.x[i]
        if row is None:
            scaled = None
        elif self._planner is not None:
            scaled = self._planner.scaled[i]
        else:
            scaled = self._scaled(row)
        self._rows.append(scaled)

        record = None
        if self.adapt_enabled and regime is not None:
            self._bars_since_adapt += 1
            every = self.trading.readapt_every
            at = i if self.precomputed is not None else None
            if transition:
                record = self._adapt(ts, regime, "transition", at)
            elif every and self._bars_since_adapt >= every:
                record = self._adapt(ts, regime, "readapt", at)
            if record is not None:
                self._bars_since_adapt = 0
        if transition:
            self._prev_regime = regime

        pred = float("nan")
        target = 0.0
        if scaled is not None and self.learner is not None:
            if self._planner is not None:
                pred = self._chunk_prediction(i)
            else:
                with torch.no_grad():
                    pred = float(self.learner.predict(torch.from_numpy(scaled[None, :]), self.params)[0])
        if self.learner is not None:  # every bar, so the mapper's trailing closes have no gaps (NaN pred -> 0)
            target = self.positions.update(pred, close)
            if regime is not None and regime.value in self.trading.flat_regimes:
                target = 0.0
        return Decision(ts, regime, transition, pred, target, record)
