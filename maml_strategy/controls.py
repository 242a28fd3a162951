"""No-net controls: the same backtrader execution and exposure mapping as the learned strategies.

* :class:`BuyAndHoldStrategy` — the benchmark.
* :class:`RegimeRuleStrategy` — long in the chosen regimes, flat otherwise.
* :class:`FactorStrategy` (:class:`ReversalStrategy`, :class:`MomentumStrategy`) — a known factor
  mapped to a target exactly as a model's prediction is.
* :class:`SMA200Strategy` — long above the moving average.
* :class:`ExposureMatchedStrategy` — a constant mix (diagnostic).

Example:
    >>> from maml_strategy.controls import SMA200Strategy
    >>> SMA200Strategy.params.period
    200
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import backtrader as bt
import pandas as pd

from maml_strategy.config import StrategyConfig
from maml_strategy.engine import Decision
from maml_strategy.errors import ConfigError
from maml_strategy.features.factors import FACTORS, factor_history, factor_last
from maml_strategy.regime import Regime
from maml_strategy.strategy_base import EngineStrategy

__all__ = ["BuyAndHoldStrategy", "RegimeRuleStrategy", "FactorStrategy", "ReversalStrategy", "MomentumStrategy",
           "SMA200Strategy", "ExposureMatchedStrategy", "DEFAULT_LONG_REGIMES"]


class _ControlStrategy(EngineStrategy):
    """A control with no net: the engine only tracks regimes; ``_target`` decides."""

    params = (("adapt", False),)
    needs_model = False

    def _target_for(self, dec: Decision) -> float:
        raise NotImplementedError

    def _decide(self) -> Decision:
        dec = super()._decide()
        return dataclasses.replace(dec, target=self._target_for(dec))


class BuyAndHoldStrategy(_ControlStrategy):
    """Benchmark: hold ``max_exposure`` of the portfolio from ``trade_start`` on.

    Params (``python -m maml_strategy params BuyAndHoldStrategy`` prints them as a table):
        config (None): a StrategyConfig, a YAML path or None = defaults (regime detector, trading costs).
        max_exposure (None): target fraction of the portfolio when long; None = ``config.trading.max_exposure``.
        trade_start (None): first date with orders; earlier bars only warm up.
        precomputed (None): an ``engine.Precomputed`` to look regimes up by date (backtests).
        model, model_path, allow_short, readapt_every, signal_scale, adapt_steps, adapt_lr (None): ignored (no net).
        adapt (False): ignored (no net).
    """

    def _target_for(self, dec: Decision) -> float:
        return self.trading.max_exposure


#: regimes in which ``RegimeRuleStrategy`` is long by default, fixed before any test run:
#: flat in every bear regime and in sideways/high-volatility, long otherwise.
DEFAULT_LONG_REGIMES: tuple[str, ...] = ("bull_low_vol", "bull_high_vol", "sideways_low_vol")


class RegimeRuleStrategy(_ControlStrategy):
    """Control with no net: long ``max_exposure`` in ``long_regimes``, flat otherwise (and in warm-up).

    Params (``python -m maml_strategy params RegimeRuleStrategy`` prints them as a table):
        long_regimes (DEFAULT_LONG_REGIMES): regime names (``Regime`` values) in which to be long.
        config (None): a StrategyConfig, a YAML path or None = defaults (regime detector, trading costs).
        max_exposure (None): target fraction of the portfolio when long; None = ``config.trading.max_exposure``.
        trade_start (None): first date with orders; earlier bars only warm up.
        precomputed (None): an ``engine.Precomputed`` to look regimes up by date (backtests).
        model, model_path, allow_short, readapt_every, signal_scale, adapt_steps, adapt_lr (None): ignored (no net).
        adapt (False): ignored (no net).

    Example:
        >>> cerebro.addstrategy(RegimeRuleStrategy, long_regimes=("bull_low_vol",))  # doctest: +SKIP
    """

    params = (("long_regimes", DEFAULT_LONG_REGIMES),)

    def __init__(self) -> None:
        super().__init__()
        names = {r.value for r in Regime}
        bad = [r for r in self.p.long_regimes if r not in names]
        if bad:
            raise ConfigError(f"long_regimes {bad} are not regimes; use some of {sorted(names)}")
        self.long_regimes = frozenset(self.p.long_regimes)

    def _target_for(self, dec: Decision) -> float:
        return self.trading.max_exposure if dec.regime is not None and dec.regime.value in self.long_regimes else 0.0


class FactorStrategy(_ControlStrategy):
    """Control with no net: trade a known factor through the learned models' exposure mapping.

    The factor (``reversal`` or ``momentum``, :mod:`maml_strategy.features.factors`) is
    computed on the closes seen so far, so it is causal by construction; its value is
    recorded as the bar's ``prediction`` and mapped to a target exactly as a model's
    prediction is (``trading.position_mode``). Flat until the factor has enough history.

    Params (``python -m maml_strategy params FactorStrategy`` prints them as a table):
        config (None): a StrategyConfig, a YAML path or None = defaults (regime detector, trading costs).
        max_exposure (None): target fraction of the portfolio when long; None = ``config.trading.max_exposure``.
        trade_start (None): first date with orders; earlier bars only warm up.
        precomputed (None): an ``engine.Precomputed`` to look regimes up by date (backtests).
        model, model_path, allow_short, readapt_every, signal_scale, adapt_steps, adapt_lr (None): ignored (no net).
        adapt (False): ignored (no net).
        factor ('reversal'): which factor, ``reversal`` or ``momentum``.

    Example:
        >>> cerebro.addstrategy(FactorStrategy, factor="momentum")  # doctest: +SKIP
    """

    params = (("factor", "reversal"),)
    short_history_ok: ClassVar[bool] = True  # flat while the factor lacks history: a shorter warm-up is allowed

    @classmethod
    def warmup_bars(cls, cfg: StrategyConfig, precomputed: bool, **params: Any) -> int:
        """The engine's warm-up, or the factor's history (253 bars for momentum), whichever is longer."""
        factor = params.get("factor", cls.params.factor)
        need = factor_history(factor, cfg.features.horizon, cfg.features.vol_window)
        return max(super().warmup_bars(cfg, precomputed), need)

    def __init__(self) -> None:
        super().__init__()
        if self.p.factor not in FACTORS:
            raise ConfigError(f"factor must be one of {', '.join(FACTORS)}, got {self.p.factor!r}")
        f = self.cfg.features
        self._need = factor_history(self.p.factor, f.horizon, f.vol_window)

    def _decide(self) -> Decision:  # sets prediction and target together (no _target_for)
        dec = EngineStrategy._decide(self)
        d = self.datas[0]
        n = min(len(d), self._need)
        closes = d.close.get(size=n)
        pred = float("nan")
        if len(closes) >= self._need:
            f = self.cfg.features
            pred = factor_last(self.p.factor, closes, f.horizon, f.vol_window)
        target = self.engine.positions.update(pred, d.close[0])  # the models' mapping (positions.PositionMapper)
        return dataclasses.replace(dec, prediction=pred, target=target)


class ReversalStrategy(FactorStrategy):
    """Control with no net: short-term reversal, ``-(h-day return) / (volatility * sqrt(h))``.

    Params (``python -m maml_strategy params ReversalStrategy`` prints them as a table):
        config (None): a StrategyConfig, a YAML path or None = defaults (regime detector, trading costs).
        max_exposure (None): target fraction of the portfolio when long; None = ``config.trading.max_exposure``.
        trade_start (None): first date with orders; earlier bars only warm up.
        precomputed (None): an ``engine.Precomputed`` to look regimes up by date (backtests).
        model, model_path, allow_short, readapt_every, signal_scale, adapt_steps, adapt_lr (None): ignored (no net).
        adapt (False): ignored (no net).
        factor ('reversal'): the factor traded (reversal).
    """

    params = (("factor", "reversal"),)


class MomentumStrategy(FactorStrategy):
    """Control with no net: 12-month return skipping the last month.

    Params (``python -m maml_strategy params MomentumStrategy`` prints them as a table):
        config (None): a StrategyConfig, a YAML path or None = defaults (regime detector, trading costs).
        max_exposure (None): target fraction of the portfolio when long; None = ``config.trading.max_exposure``.
        trade_start (None): first date with orders; earlier bars only warm up.
        precomputed (None): an ``engine.Precomputed`` to look regimes up by date (backtests).
        model, model_path, allow_short, readapt_every, signal_scale, adapt_steps, adapt_lr (None): ignored (no net).
        adapt (False): ignored (no net).
        factor ('momentum'): the factor traded (momentum).
    """

    params = (("factor", "momentum"),)


class SMA200Strategy(_ControlStrategy):
    """Control with no net: long ``max_exposure`` while the close is above its ``period``-bar SMA, else flat.

    Params (``python -m maml_strategy params SMA200Strategy`` prints them as a table):
        period (200): bars in the simple moving average of the close.
        config (None): a StrategyConfig, a YAML path or None = defaults (regime detector, trading costs).
        max_exposure (None): target fraction of the portfolio when long; None = ``config.trading.max_exposure``.
        trade_start (None): first date with orders; earlier bars only warm up.
        precomputed (None): an ``engine.Precomputed`` to look regimes up by date (backtests).
        model, model_path, allow_short, readapt_every, signal_scale, adapt_steps, adapt_lr (None): ignored (no net).
        adapt (False): ignored (no net).
    """

    params = (("period", 200),)

    def __init__(self) -> None:
        super().__init__()
        self.sma = bt.indicators.SimpleMovingAverage(self.datas[0].close, period=int(self.p.period))

    @classmethod
    def warmup_bars(cls, cfg: StrategyConfig, precomputed: bool, **params: Any) -> int:
        """The support warm-up, or ``period + 1`` bars for the SMA, whichever is longer."""
        period = int(params.get("period", cls.params.period))
        return max(super().warmup_bars(cfg, precomputed), period + 1)

    def _target_for(self, dec: Decision) -> float:
        return self.trading.max_exposure if self.datas[0].close[0] > self.sma[0] else 0.0


class ExposureMatchedStrategy(_ControlStrategy):
    """Diagnostic: a constant asset/cash mix at ``exposure``, rebalanced on the first bar of each month.

    Run it with another strategy's realised mean exposure over the same window to
    tell apart "lower drawdown from holding less" and "out of the market at the right time".

    Params (``python -m maml_strategy params ExposureMatchedStrategy`` prints them as a table):
        exposure (0.5): constant fraction of the portfolio held, in [0, max_exposure].
        config (None): a StrategyConfig, a YAML path or None = defaults (regime detector, trading costs).
        max_exposure (None): target fraction of the portfolio when long; None = ``config.trading.max_exposure``.
        trade_start (None): first date with orders; earlier bars only warm up.
        precomputed (None): an ``engine.Precomputed`` to look regimes up by date (backtests).
        model, model_path, allow_short, readapt_every, signal_scale, adapt_steps, adapt_lr (None): ignored (no net).
        adapt (False): ignored (no net).
    """

    params = (("exposure", 0.5),)

    def __init__(self) -> None:
        super().__init__()
        if not 0 <= float(self.p.exposure) <= self.trading.max_exposure:
            raise ConfigError(f"exposure must be in [0, {self.trading.max_exposure}], got {self.p.exposure}")

    def _target_for(self, dec: Decision) -> float:
        return float(self.p.exposure)

    def _should_order(self, target: float, date: pd.Timestamp) -> bool:
        last = self._last_active_date
        return last is None or (date.year, date.month) != (last.year, last.month)
