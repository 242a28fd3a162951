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
from typing import Any

import backtrader as bt
import pandas as pd

from maml_strategy.config import StrategyConfig, TradingConfig, load_config
from maml_strategy.engine import AdaptationRecord, Decision, SignalEngine
from maml_strategy.errors import ConfigError, ModelError
from maml_strategy.learners import load_learner

__all__ = [
    "MAMLRegimeStrategy",
    "StaticModelStrategy",
    "NaiveFinetuneStrategy",
    "BuyAndHoldStrategy",
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
        ("signal_scale", None),  # prediction units per unit of exposure (None = config / calibrated)
        ("adapt_steps", None),  # None = the model's inner steps
        ("adapt_lr", None),  # None = the model's inner learning rate
        ("trade_start", None),  # no orders before this date (warm-up bars still update state)
        ("adapt", True),  # adapt on confirmed transitions
    )

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
        if learner is None and self._needs_model():
            raise ModelError(
                f"{type(self).__name__} needs a model: pass model=<MAML/StaticModel> or model_path='file.pt' "
                "(train one with `python backtests/run.py`, which caches models under backtests/cache/)"
            )
        support = getattr(getattr(learner, "config", None), "support_size", None) or cfg.maml.support_size
        self.engine = SignalEngine(
            learner,
            adapt=bool(self.p.adapt),
            regime=cfg.regime,
            features=cfg.features,
            trading=self.trading,
            support_size=int(support),
            signal_scale=self.trading.signal_scale,
        )
        self.trade_start = None if self.p.trade_start is None else pd.Timestamp(self.p.trade_start)
        self.decisions: list[dict[str, Any]] = []
        self.fills: list[dict[str, Any]] = []
        self._target = 0.0

    def _needs_model(self) -> bool:
        return True

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
        band = self.trading.rebalance_band
        if abs(target - self._target) >= band or (target == 0.0 and self._target != 0.0):
            self.order_target_percent(target=target)
            self._target = target

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

    Example:
        >>> cerebro.addstrategy(MAMLRegimeStrategy, model_path="maml.pt", allow_short=False)  # doctest: +SKIP
    """


class StaticModelStrategy(_EngineStrategy):
    """Trade the Phase-1 (conventionally trained) model, never adapted."""

    params = (("adapt", False),)


class NaiveFinetuneStrategy(_EngineStrategy):
    """Ablation: adapt the *static* model on transitions with the same steps, lr and support as MAML."""


class BuyAndHoldStrategy(_EngineStrategy):
    """Benchmark: hold ``max_exposure`` of the portfolio from ``trade_start`` on."""

    params = (("adapt", False),)

    def _needs_model(self) -> bool:
        return False

    def _decide(self) -> Decision:
        dec = super()._decide()
        return dataclasses.replace(dec, target=self.trading.max_exposure)


STRATEGIES: dict[str, type[_EngineStrategy]] = {
    "maml": MAMLRegimeStrategy,
    "static": StaticModelStrategy,
    "naive_finetune": NaiveFinetuneStrategy,
    "buy_and_hold": BuyAndHoldStrategy,
}
