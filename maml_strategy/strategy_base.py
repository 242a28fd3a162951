"""The backtrader adapter every single-symbol strategy shares: :class:`EngineStrategy`.

It owns one :class:`~maml_strategy.engine.SignalEngine`, feeds it each closed bar and orders the
target exposure (filled at the next open with backtrader's defaults). The analyzers of
:mod:`maml_strategy.analyzers` record each bar's ``decision`` and every fill.
The learned strategies (:mod:`maml_strategy.strategy`) and the no-net controls
(:mod:`maml_strategy.controls`) are thin subclasses.

Example:
    >>> from maml_strategy.strategy_base import EngineStrategy
    >>> EngineStrategy.params.adapt
    True
"""

from __future__ import annotations

import dataclasses
import datetime
import os
from typing import Any, ClassVar

import backtrader as bt
import pandas as pd

from maml_strategy.config import StrategyConfig, TradingConfig, load_config
from maml_strategy.engine import AdaptationRecord, Decision, SignalEngine
from maml_strategy.errors import ConfigError, ModelError
from maml_strategy.features import MultiTimeframeExtractor, support_history
from maml_strategy.learners import load_learner
from maml_strategy.regime import RegimeDetector

__all__ = ["EngineStrategy", "resolve_config"]


def _bar_date(num: float) -> datetime.datetime:
    """``bt.num2date(num)``: a whole day number (a daily bar) is that day's midnight, anything else goes to num2date."""
    day = int(num)
    return datetime.datetime.fromordinal(day) if day == num else bt.num2date(num)


def resolve_config(config: Any) -> StrategyConfig:
    if config is None:
        return StrategyConfig()
    if isinstance(config, StrategyConfig):
        return config
    if isinstance(config, (str, os.PathLike)):
        return load_config(config)
    raise ConfigError(f"config must be a StrategyConfig, a YAML path or None, got {type(config).__name__}")


class EngineStrategy(bt.Strategy):
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

    def __init__(self) -> None:
        cfg = resolve_config(self.p.config)
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
        self.decision: Decision | None = None  # the last bar's decision (DecisionRecorder reads it)
        self.bar_target = 0.0  # the last bar's target; 0 before trade_start
        self._target = 0.0
        self._last_active_date: pd.Timestamp | None = None
        d = self.datas[0].lines
        self._bar_lines = (d.datetime, d.open, d.high, d.low, d.close, d.volume)  # read by _decide each bar

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
        dt, o, h, lo, c, v = self._bar_lines
        return self.engine.on_bar(_bar_date(dt[0]), o[0], h[0], lo[0], c[0], v[0])

    def next(self) -> None:
        dec = self.decision = self._decide()
        date = dec.date
        active = self.trade_start is None or date >= self.trade_start
        target = self.bar_target = dec.target if active else 0.0
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
