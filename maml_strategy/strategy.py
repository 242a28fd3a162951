"""backtrader strategies: the thin adapter around :class:`~maml_strategy.engine.SignalEngine`.

* :class:`MAMLRegimeStrategy` — adapts the meta-learned model on each confirmed regime transition.
* :class:`StaticModelStrategy` — the Phase-1 model, never adapted.
* :class:`NaiveFinetuneStrategy` — the same adaptation path, starting from the static model.
* :class:`BuyAndHoldStrategy` — the benchmark.

Orders are decided at a bar's close and, with backtrader's defaults (no
cheat-on-close), fill at the next bar's open.

Example:
    >>> import backtrader as bt
    >>> from maml_strategy.strategy import MAMLRegimeStrategy
    >>> cerebro = bt.Cerebro()
    >>> cerebro.adddata(bt.feeds.PandasData(dataname=df))  # doctest: +SKIP
    >>> cerebro.addstrategy(MAMLRegimeStrategy, model_path="maml.pt")  # doctest: +SKIP
    >>> strat = cerebro.run()[0]  # doctest: +SKIP
    >>> strat.adaptations[:1]  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, ClassVar

import backtrader as bt
import pandas as pd

from maml_strategy.config import StrategyConfig, TradingConfig, load_config
from maml_strategy.engine import AdaptationRecord, Decision, SignalEngine
from maml_strategy.errors import ConfigError, ModelError
from maml_strategy.features import MultiTimeframeExtractor, support_history
from maml_strategy.features.factors import FACTORS, factor_history, factor_last
from maml_strategy.learners import load_learner
from maml_strategy.regime import Regime, RegimeDetector

__all__ = [
    "MAMLRegimeStrategy",
    "StaticModelStrategy",
    "NaiveFinetuneStrategy",
    "BuyAndHoldStrategy",
    "GBDTStrategy",
    "RegimeRuleStrategy",
    "SMA200Strategy",
    "ExposureMatchedStrategy",
    "MAMLUnadaptedStrategy",
    "FactorStrategy",
    "ReversalStrategy",
    "MomentumStrategy",
    "DEFAULT_LONG_REGIMES",
    "load_learner",
    "STRATEGIES",
]


def _resolve_config(config: Any) -> StrategyConfig:
    if config is None:
        return StrategyConfig()
    if isinstance(config, StrategyConfig):
        return config
    if isinstance(config, (str, os.PathLike)):
        return load_config(config)
    raise ConfigError(f"config must be a StrategyConfig, a YAML path or None, got {type(config).__name__}")


class _EngineStrategy(bt.Strategy):
    """Shared body: feed each closed bar to a SignalEngine and trade its target."""

    params = (
        ("model", None),  # a loaded MAML / StaticModel (takes precedence over model_path)
        ("model_path", None),  # path to a saved model file
        ("config", None),  # StrategyConfig, YAML path, or None for defaults
        ("allow_short", None),  # None = config.trading.allow_short
        ("max_exposure", None),  # None = config.trading.max_exposure
        ("readapt_every", None),  # None = config.trading.readapt_every (0 = transitions only)
        ("signal_scale", None),  # linear mode: prediction units per unit of exposure (None = config; not calibrated)
        ("adapt_steps", None),  # None = the model's inner steps
        ("adapt_lr", None),  # None = the model's inner learning rate
        ("trade_start", None),  # no orders before this date (warm-up bars still update state)
        ("adapt", True),  # adapt on confirmed transitions
        ("precomputed", None),  # engine.Precomputed: look features/regimes up by date (backtests) instead of streaming
    )
    needs_model: ClassVar[bool] = True  # learned strategies need model= or model_path=
    short_history_ok: ClassVar[bool] = False  # True: may start with less than warmup_bars of history
    adapts: ClassVar[bool] = True  # adapts on confirmed transitions (its state depends on the last one)

    def __init__(self) -> None:
        cfg = _resolve_config(self.p.config)
        overrides = {
            k: getattr(self.p, k)
            for k in ("allow_short", "max_exposure", "readapt_every", "adapt_steps", "adapt_lr", "signal_scale")
            if getattr(self.p, k) is not None
        }
        self.trading: TradingConfig = dataclasses.replace(cfg.trading, **overrides)
        self.cfg = cfg
        learner = self.p.model
        if learner is None and self.p.model_path is not None:
            learner = load_learner(self.p.model_path)
        if learner is None and self.needs_model:
            raise ModelError(
                f"{type(self).__name__} needs a model: pass model=<MAML/StaticModel> or model_path='file.pt' "
                "(train one with `python backtests/run.py`, which caches models under backtests/cache/)"
            )
        self.engine = SignalEngine(
            learner if self.needs_model else None,
            adapt=bool(self.p.adapt),
            regime=cfg.regime,
            features=cfg.features,
            trading=self.trading,
            support_size=cfg.maml.support_size,
            signal_scale=self.trading.signal_scale,
            precomputed=self.p.precomputed,
        )
        self.trade_start = None if self.p.trade_start is None else pd.Timestamp(self.p.trade_start)
        self.decisions: list[dict[str, Any]] = []
        self.fills: list[dict[str, Any]] = []
        self._target = 0.0
        self._last_active_date: pd.Timestamp | None = None

    @classmethod
    def warmup_bars(cls, cfg: StrategyConfig, precomputed: bool, **params: Any) -> int:
        """Bars of history this strategy needs before its first decision.

        Streaming: the regime detector's warm-up or the feature window, whichever is
        longer, plus one support window (K samples whose labels and volatility are
        known). With precomputed features and regimes only the support window.
        """
        support = support_history(cfg.maml.support_size, cfg.features.lag, cfg.features.vol_window)
        if precomputed:
            return support
        return max(RegimeDetector(cfg.regime).warmup,
                   MultiTimeframeExtractor(timeframes=tuple(cfg.features.timeframes)).window) + support

    @property
    def adaptations(self) -> list[AdaptationRecord]:
        """Every adaptation made so far (date, from -> to regime, support loss before/after, ms)."""
        return self.engine.adaptations

    def _decide(self) -> Decision:
        d = self.datas[0]
        return self.engine.on_bar(
            bt.num2date(d.datetime[0]), d.open[0], d.high[0], d.low[0], d.close[0], d.volume[0]
        )

    def next(self) -> None:
        dec = self._decide()
        date = dec.date
        active = self.trade_start is None or date >= self.trade_start
        target = dec.target if active else 0.0
        self.decisions.append({
            "date": date, "regime": None if dec.regime is None else dec.regime.value,
            "transition": dec.transition, "prediction": dec.prediction, "target": target,
            "adapted": dec.adaptation is not None, "value": self.broker.getvalue(),
            "position_value": self.getposition(self.datas[0]).size * self.datas[0].close[0],
        })
        if not active:
            return
        if self._should_order(target, date):
            self.order_target_percent(target=target)
            self._target = target
        self._last_active_date = date

    def _should_order(self, target: float, date: pd.Timestamp) -> bool:
        """Order when the target moved by at least the rebalance band, or to go flat."""
        band = self.trading.rebalance_band
        return abs(target - self._target) >= band or (target == 0.0 and self._target != 0.0)

    def notify_order(self, order: bt.Order) -> None:
        if order.status == order.Completed:
            self.fills.append({
                "date": bt.num2date(order.executed.dt),
                "side": "buy" if order.isbuy() else "sell",
                "size": float(order.executed.size),
                "price": float(order.executed.price),
                "value": float(order.executed.value),
                "commission": float(order.executed.comm),
            })


class MAMLRegimeStrategy(_EngineStrategy):
    """Trade the meta-learned model, adapted on each confirmed regime transition.

    Params (``python -m maml_strategy params MAMLRegimeStrategy`` prints them as a table):
        model (None): a loaded model (``load_learner(path)``); takes precedence over ``model_path``.
        model_path (None): path of a saved model file (``backtests/run.py`` writes ``maml.pt``).
        config (None): a StrategyConfig, a YAML path (``strategies/maml_regime.yaml``) or None = defaults.
        allow_short (None): allow short targets; None = ``config.trading.allow_short`` (False, long-only).
        max_exposure (None): target fraction of the portfolio when long; None = ``config.trading.max_exposure``.
        readapt_every (None): also re-adapt every N bars inside a regime; None = config (0 = transitions only).
        signal_scale (None): ``position_mode: linear`` only, prediction units per unit of exposure; None = config.
        adapt_steps (None): SGD steps per adaptation; None = ``config.trading.adapt_steps`` or the model's.
        adapt_lr (None): adaptation learning rate; None = ``config.trading.adapt_lr`` or the model's.
        trade_start (None): first date with orders; earlier bars only warm up regimes and features.
        adapt (True): adapt on confirmed regime transitions (False = never adapt).
        precomputed (None): an ``engine.Precomputed`` to look features and regimes up by date (backtests).

    Example:
        >>> cerebro.addstrategy(MAMLRegimeStrategy, model_path="maml.pt", allow_short=False)  # doctest: +SKIP
    """


class MAMLUnadaptedStrategy(_EngineStrategy):
    """Ablation: the meta-learned model traded with its meta-parameters, never adapted.

    MAML minus this strategy is the adaptation's gain (``skill.maml.adaptation_gain``).

    Params (``python -m maml_strategy params MAMLUnadaptedStrategy`` prints them as a table):
        model (None): a loaded model (``load_learner(path)``); takes precedence over ``model_path``.
        model_path (None): path of a saved model file (``backtests/run.py`` writes ``maml.pt``).
        config (None): a StrategyConfig, a YAML path (``strategies/maml_regime.yaml``) or None = defaults.
        allow_short (None): allow short targets; None = ``config.trading.allow_short`` (False, long-only).
        max_exposure (None): target fraction of the portfolio when long; None = ``config.trading.max_exposure``.
        readapt_every (None): also re-adapt every N bars inside a regime; None = config (0 = transitions only).
        signal_scale (None): ``position_mode: linear`` only, prediction units per unit of exposure; None = config.
        adapt_steps (None): SGD steps per adaptation; None = ``config.trading.adapt_steps`` or the model's.
        adapt_lr (None): adaptation learning rate; None = ``config.trading.adapt_lr`` or the model's.
        trade_start (None): first date with orders; earlier bars only warm up regimes and features.
        adapt (False): never adapt (True = adapt on transitions, i.e. naive fine-tuning).
        precomputed (None): an ``engine.Precomputed`` to look features and regimes up by date (backtests).
    """

    params = (("adapt", False),)
    adapts = False


class StaticModelStrategy(_EngineStrategy):
    """Trade the Phase-1 (conventionally trained) model, never adapted.

    Params (``python -m maml_strategy params StaticModelStrategy`` prints them as a table):
        model (None): a loaded model (``load_learner(path)``); takes precedence over ``model_path``.
        model_path (None): path of a saved model file (``backtests/run.py`` writes ``static.pt``).
        config (None): a StrategyConfig, a YAML path (``strategies/maml_regime.yaml``) or None = defaults.
        allow_short (None): allow short targets; None = ``config.trading.allow_short`` (False, long-only).
        max_exposure (None): target fraction of the portfolio when long; None = ``config.trading.max_exposure``.
        readapt_every (None): also re-adapt every N bars inside a regime; None = config (0 = transitions only).
        signal_scale (None): ``position_mode: linear`` only, prediction units per unit of exposure; None = config.
        adapt_steps (None): SGD steps per adaptation; None = ``config.trading.adapt_steps`` or the model's.
        adapt_lr (None): adaptation learning rate; None = ``config.trading.adapt_lr`` or the model's.
        trade_start (None): first date with orders; earlier bars only warm up regimes and features.
        adapt (False): never adapt (True = adapt on transitions, i.e. naive fine-tuning).
        precomputed (None): an ``engine.Precomputed`` to look features and regimes up by date (backtests).
    """

    params = (("adapt", False),)
    adapts = False


class GBDTStrategy(_EngineStrategy):
    """Control: the LightGBM model on the same features, labels and validation years, never adapted.

    Params (``python -m maml_strategy params GBDTStrategy`` prints them as a table):
        model (None): a loaded model (``load_learner(path)``); takes precedence over ``model_path``.
        model_path (None): path of a saved LightGBM model file (``backtests/run.py`` caches one under ``backtests/cache/``).
        config (None): a StrategyConfig, a YAML path (``strategies/maml_regime.yaml``) or None = defaults.
        allow_short (None): allow short targets; None = ``config.trading.allow_short`` (False, long-only).
        max_exposure (None): target fraction of the portfolio when long; None = ``config.trading.max_exposure``.
        readapt_every (None): also re-adapt every N bars inside a regime; None = config (0 = transitions only).
        signal_scale (None): ``position_mode: linear`` only, prediction units per unit of exposure; None = config.
        adapt_steps (None): SGD steps per adaptation; None = ``config.trading.adapt_steps`` or the model's.
        adapt_lr (None): adaptation learning rate; None = ``config.trading.adapt_lr`` or the model's.
        trade_start (None): first date with orders; earlier bars only warm up regimes and features.
        adapt (False): never adapt (the LightGBM model has no gradient adaptation).
        precomputed (None): an ``engine.Precomputed`` to look features and regimes up by date (backtests).
    """

    params = (("adapt", False),)
    adapts = False


class NaiveFinetuneStrategy(_EngineStrategy):
    """Ablation: adapt the *static* model on transitions with the same steps, lr and support as MAML.

    Params (``python -m maml_strategy params NaiveFinetuneStrategy`` prints them as a table):
        model (None): a loaded model (``load_learner(path)``); takes precedence over ``model_path``.
        model_path (None): path of a saved model file (``backtests/run.py`` writes ``static.pt``).
        config (None): a StrategyConfig, a YAML path (``strategies/maml_regime.yaml``) or None = defaults.
        allow_short (None): allow short targets; None = ``config.trading.allow_short`` (False, long-only).
        max_exposure (None): target fraction of the portfolio when long; None = ``config.trading.max_exposure``.
        readapt_every (None): also re-adapt every N bars inside a regime; None = config (0 = transitions only).
        signal_scale (None): ``position_mode: linear`` only, prediction units per unit of exposure; None = config.
        adapt_steps (None): SGD steps per adaptation; None = ``config.trading.adapt_steps`` or the model's.
        adapt_lr (None): adaptation learning rate; None = ``config.trading.adapt_lr`` or the model's.
        trade_start (None): first date with orders; earlier bars only warm up regimes and features.
        adapt (True): adapt on confirmed regime transitions (False = the static model).
        precomputed (None): an ``engine.Precomputed`` to look features and regimes up by date (backtests).
    """


class _ControlStrategy(_EngineStrategy):
    """A control with no net: the engine only tracks regimes; ``_target`` decides."""

    params = (("adapt", False),)
    needs_model = False
    adapts = False

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
        dec = _EngineStrategy._decide(self)
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


STRATEGIES: dict[str, type[_EngineStrategy]] = {
    "maml": MAMLRegimeStrategy,
    "maml_unadapted": MAMLUnadaptedStrategy,
    "static": StaticModelStrategy,
    "naive_finetune": NaiveFinetuneStrategy,
    "gbdt": GBDTStrategy,
    "reversal": ReversalStrategy,
    "momentum": MomentumStrategy,
    "regime_rule": RegimeRuleStrategy,
    "sma200": SMA200Strategy,
    "exposure_matched": ExposureMatchedStrategy,
    "buy_and_hold": BuyAndHoldStrategy,
}
