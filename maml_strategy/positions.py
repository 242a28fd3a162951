"""From a prediction to a target exposure, one bar at a time (core: numpy only, no backtrader).

:func:`exposure_from_prediction` is the stateless mapping (``sign``, ``linear``);
:class:`PositionMapper` adds the stateful ones, which look at the trailing
history of the predictions (and of the asset's closes):

* ``rank``: ``max_exposure x p``, where ``p`` is the percentile of the prediction
  among the last ``rank_window`` *past* predictions (the empirical CDF with ties
  counted half: ``p = (#{past < pred} + 0.5 #{past == pred}) / #past``, in [0, 1]);
  with ``allow_short`` the exposure is ``(2p - 1) x max_exposure``.
* ``overlay``: ``overlay_base + overlay_k x z``, ``z`` = the prediction's z-score
  against the mean and standard deviation (ddof 1) of the same past predictions
  (``z = 0`` when they are all equal), clipped to ``[0, max]`` (``[-max, max]``
  with ``allow_short``).
* ``vol_target``: the exposure of ``vol_target_base`` (sign, rank or overlay)
  times ``vol_target / sigma``, ``sigma`` = the standard deviation (ddof 1) of the
  last ``vol_target_window`` daily close returns x sqrt(252), clipped like overlay.

Causality: the current prediction is compared with past predictions only and
joins the history *after* its exposure is computed; the volatility uses closes up
to and including the current bar (known at its close, when the decision is made).

Warm-up (chosen: flat, never a sign fallback): ``rank`` and ``overlay`` return 0
until ``rank_min_history`` past predictions exist; ``vol_target`` returns 0 until
``vol_target_window`` returns exist. A non-finite prediction gives 0 and does not
enter the history; its close still counts for the volatility.
``min_signal`` applies to ``sign`` and ``linear`` only (so to ``vol_target`` on sign).

Example:
    >>> from maml_strategy.config import TradingConfig
    >>> m = PositionMapper(TradingConfig(position_mode="rank", rank_min_history=2, max_exposure=1.0))
    >>> [m.update(p, 100.0) for p in (0.1, 0.3, 0.2, 0.5)]
    [0.0, 0.0, 0.5, 1.0]
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from maml_strategy.config import TradingConfig
from maml_strategy.errors import ConfigError

__all__ = ["exposure_from_prediction", "PositionMapper", "TRADING_DAYS"]

TRADING_DAYS = 252  # bars per year for annualising the realised volatility


def exposure_from_prediction(pred: float, trading: TradingConfig, signal_scale: float) -> float:
    """Map a prediction to a target exposure in ``[-max, max]`` (``[0, max]`` long-only); stateless modes only.

    ``position_mode="sign"``: ``+max_exposure`` when ``pred > min_signal``, ``-max_exposure``
    when ``pred < -min_signal`` and shorting is allowed, else 0.
    ``position_mode="linear"``: ``clip(pred / signal_scale, lo, max_exposure)``. Any other mode
    is stateful: use :class:`PositionMapper`.

    Example:
        >>> exposure_from_prediction(0.5, TradingConfig(max_exposure=1.0), signal_scale=1.0)
        1.0
        >>> exposure_from_prediction(-0.5, TradingConfig(), signal_scale=1.0)
        0.0
    """
    if trading.position_mode not in ("sign", "linear"):
        raise ConfigError(f"position_mode {trading.position_mode!r} keeps a history of predictions: "
                          "use maml_strategy.positions.PositionMapper(trading).update(pred, close)")
    return _stateless(pred, trading, signal_scale, trading.position_mode)


def _stateless(pred: float, trading: TradingConfig, signal_scale: float, mode: str) -> float:
    if not math.isfinite(pred) or abs(pred) <= trading.min_signal:
        return 0.0
    lo = -trading.max_exposure if trading.allow_short else 0.0
    if mode == "sign":
        return float(trading.max_exposure if pred > 0 else lo)
    return float(min(max(pred / signal_scale, lo), trading.max_exposure))


class PositionMapper:
    """Stateful prediction -> exposure mapping of ``trading.position_mode``; call :meth:`update` once per bar.

    Every strategy that turns a prediction (a model's or a factor's) into a position uses
    this one class: ``SignalEngine`` holds one as ``engine.positions``; a control without a
    net calls ``self.engine.positions.update(prediction, close)`` on every bar (with NaN
    when it has no prediction yet, so the volatility still sees the close).

    Args:
        trading: the mapping settings (``position_mode``, ``max_exposure``, ``allow_short``,
            ``rank_*``, ``overlay_*``, ``vol_target*``, ``min_signal``, ``signal_scale``).
        signal_scale: overrides ``trading.signal_scale`` (``linear``); None = the config's.

    Example:
        >>> m = PositionMapper(TradingConfig(position_mode="vol_target", vol_target=0.1,
        ...                                  vol_target_window=2, max_exposure=1.0))
        >>> [round(m.update(1.0, c), 3) for c in (100.0, 101.0, 100.0, 102.0)]
        [0.0, 0.0, 0.448, 0.298]
    """

    def __init__(self, trading: TradingConfig | None = None, signal_scale: float | None = None) -> None:
        self.trading = trading or TradingConfig()
        self.signal_scale = float(signal_scale) if signal_scale else self.trading.signal_scale
        if not self.signal_scale > 0:
            raise ConfigError(f"signal_scale must be > 0, got {signal_scale}")
        t = self.trading
        self.mode = t.position_mode
        self.base_mode = t.vol_target_base if self.mode == "vol_target" else self.mode
        self.lo = -t.max_exposure if t.allow_short else 0.0
        self._preds: deque[float] = deque(maxlen=t.rank_window)
        self._rets: deque[float] = deque(maxlen=t.vol_target_window)
        self._last_close: float | None = None

    def reset(self) -> None:
        """Forget every past prediction and close."""
        self._preds.clear()
        self._rets.clear()
        self._last_close = None

    @property
    def history(self) -> int:
        """Past predictions currently kept (at most ``rank_window``)."""
        return len(self._preds)

    def realised_vol(self) -> float:
        """Annualised volatility of the last ``vol_target_window`` daily close returns (NaN before that many)."""
        if len(self._rets) < self.trading.vol_target_window:
            return float("nan")
        return float(np.std(np.fromiter(self._rets, float), ddof=1) * math.sqrt(TRADING_DAYS))

    def _observe_close(self, close: float) -> None:
        close = float(close)
        if not (math.isfinite(close) and close > 0):
            return
        if self._last_close is not None:
            self._rets.append(close / self._last_close - 1.0)
        self._last_close = close

    def _base(self, pred: float) -> float:
        t = self.trading
        if self.base_mode in ("sign", "linear"):
            return _stateless(pred, t, self.signal_scale, self.base_mode)
        if len(self._preds) < t.rank_min_history:
            return 0.0  # warm-up: flat
        past = np.fromiter(self._preds, float)
        if self.base_mode == "rank":
            p = (np.count_nonzero(past < pred) + 0.5 * np.count_nonzero(past == pred)) / len(past)
            e = (2.0 * p - 1.0) * t.max_exposure if t.allow_short else p * t.max_exposure
            return float(e)
        sd = float(np.std(past, ddof=1))
        z = (pred - float(past.mean())) / sd if sd > 0 else 0.0
        return float(min(max(t.overlay_base + t.overlay_k * z, self.lo), t.max_exposure))

    def update(self, pred: float, close: float) -> float:
        """The target exposure at this bar's close, given its prediction and close; then remember both.

        Args:
            pred: this bar's prediction (NaN/inf = none: exposure 0, not remembered).
            close: this bar's close (for ``vol_target``; non-positive or NaN closes are skipped).

        Returns:
            The exposure, a fraction of portfolio value in ``[lo, max_exposure]``.
        """
        self._observe_close(close)
        pred = float(pred)
        if not math.isfinite(pred):
            return 0.0
        e = self._base(pred)
        self._preds.append(pred)
        if self.mode == "vol_target":
            sigma = self.realised_vol()
            if not math.isfinite(sigma):
                return 0.0  # warm-up: flat
            scale = self.trading.vol_target / sigma if sigma > 0 else math.inf
            e = 0.0 if e == 0.0 else e * scale
            e = min(max(e, self.lo), self.trading.max_exposure)
        return float(e) + 0.0  # no -0.0
