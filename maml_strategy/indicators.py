"""Backtrader indicators built on the core (backtrader-free) regime detector.

Example:
    >>> import backtrader as bt
    >>> from maml_strategy.indicators import RegimeIndicator
    >>> class S(bt.Strategy):
    ...     def __init__(self):
    ...         self.regime = RegimeIndicator(self.data)
    ...     def next(self):
    ...         if self.regime.transition[0]:
    ...             print(self.data.datetime.date(0), self.regime.current)
"""

from __future__ import annotations

import math

import backtrader as bt

from maml_strategy.errors import ConfigError
from maml_strategy.regime import Regime, RegimeConfig, RegimeDetector

__all__ = ["RegimeIndicator"]

_NAN = float("nan")


class RegimeIndicator(bt.Indicator):
    """Causal market regime as backtrader lines.

    Lines:
        regime: :attr:`Regime.code` (0..5) of the confirmed regime, NaN during warm-up.
        transition: 1.0 on bars where the confirmed regime changes (including
            the first confirmation), else 0.0 (also 0.0 during warm-up).

    Params:
        config: :class:`~maml_strategy.regime.RegimeConfig` (None = defaults).

    The bars are fed one by one to :meth:`RegimeDetector.update` from
    ``next`` (backtrader derives ``once`` from ``next`` for indicators that
    only define ``next``), so the lines equal ``RegimeDetector().label(df)``
    in both ``runonce=True`` and ``runonce=False`` modes. Bars with a NaN
    high/low/close (e.g. a data feed not yet started) are skipped.

    Example:
        >>> ind = RegimeIndicator(data, config=RegimeConfig(min_dwell=3))  # doctest: +SKIP
        >>> Regime.from_code(int(ind.regime[0]))                           # doctest: +SKIP
    """

    lines = ("regime", "transition")
    params = (("config", None),)
    plotinfo = dict(subplot=True)

    def __init__(self) -> None:
        cfg = self.p.config
        if cfg is not None and not isinstance(cfg, RegimeConfig):
            raise ConfigError(f"RegimeIndicator config must be a RegimeConfig or None, got {type(cfg).__name__}")
        self.detector = RegimeDetector(cfg)

    @property
    def current(self) -> Regime | None:
        """Confirmed regime at the current bar (None during warm-up).

        Read from the ``regime`` line, so it is right in ``runonce`` mode too
        (where the whole line is computed before the strategy's ``next``).
        """
        code = self.lines.regime[0]
        return None if math.isnan(code) else Regime.from_code(int(code))

    def prenext(self) -> None:  # pragma: no cover - minperiod is 1 with a single data feed
        self.next()

    def next(self) -> None:
        d = self.data
        high, low, close = d.high[0], d.low[0], d.close[0]
        if math.isnan(high) or math.isnan(low) or math.isnan(close):
            self.lines.regime[0] = _NAN
            self.lines.transition[0] = 0.0
            return
        regime = self.detector.step(float(high), float(low), float(close))
        self.lines.regime[0] = _NAN if regime is None else float(regime.code)
        self.lines.transition[0] = 1.0 if self.detector.transition else 0.0
