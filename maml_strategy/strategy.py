"""backtrader strategies: the thin adapter around :class:`~maml_strategy.engine.SignalEngine`.

* :class:`MAMLRegimeStrategy` — trades a learned model, adapted on each confirmed regime transition
  (kind ``maml`` with the meta-learned model, ``naive_finetune`` with the static one).
* :class:`StaticModelStrategy` — trades a learned model, never adapted (kinds ``static``,
  ``maml_unadapted`` and ``gbdt``).
* :class:`BuyAndHoldStrategy` and the other no-net controls live in :mod:`maml_strategy.controls`
  (re-exported here); the shared adapter is :class:`~maml_strategy.strategy_base.EngineStrategy`.
* :data:`STRATEGIES` — each kind's class, read off the one table of kinds
  (:data:`maml_strategy.config.kinds.KINDS`, which also gives its model slot and whether it adapts).

Orders are decided at a bar's close and, with backtrader's defaults (no
cheat-on-close), fill at the next bar's open. Decisions and fills are recorded by the
analyzers of :mod:`maml_strategy.analyzers`.

Example:
    >>> import backtrader as bt
    >>> from maml_strategy.strategy import STRATEGIES, MAMLRegimeStrategy
    >>> STRATEGIES["naive_finetune"] is MAMLRegimeStrategy
    True
    >>> cerebro = bt.Cerebro()
    >>> cerebro.adddata(bt.feeds.PandasData(dataname=df))  # doctest: +SKIP
    >>> cerebro.addstrategy(MAMLRegimeStrategy, model_path="maml.pt")  # doctest: +SKIP
    >>> strat = cerebro.run()[0]  # doctest: +SKIP
    >>> strat.adaptations[:1]  # doctest: +SKIP
"""

from __future__ import annotations


from maml_strategy.config.kinds import KINDS
from maml_strategy.controls import (DEFAULT_LONG_REGIMES, BuyAndHoldStrategy, ExposureMatchedStrategy, FactorStrategy,
                                    MomentumStrategy, RegimeRuleStrategy, ReversalStrategy, SMA200Strategy)
from maml_strategy.learners import load_learner
from maml_strategy.strategy_base import EngineStrategy

__all__ = [
    "MAMLRegimeStrategy",
    "StaticModelStrategy",
    "BuyAndHoldStrategy",
    "RegimeRuleStrategy",
    "SMA200Strategy",
    "ExposureMatchedStrategy",
    "FactorStrategy",
    "ReversalStrategy",
    "MomentumStrategy",
    "DEFAULT_LONG_REGIMES",
    "load_learner",
    "STRATEGIES",
]


class MAMLRegimeStrategy(EngineStrategy):
    """Trade a learned model, adapted on each confirmed regime transition (MAML, or the static net: naive fine-tuning).

    Params (``python -m maml_strategy params MAMLRegimeStrategy`` prints them as a table):
        model (None): a loaded model (``load_learner(path)``); takes precedence over ``model_path``.
        model_path (None): path of a saved model file (``backtests/run.py`` caches them under ``backtests/cache/``).
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


class StaticModelStrategy(EngineStrategy):
    """Trade a learned model as trained, never adapted: the static net, MAML's meta-parameters or LightGBM.

    Params (``python -m maml_strategy params StaticModelStrategy`` prints them as a table):
        model (None): a loaded model (``load_learner(path)``); takes precedence over ``model_path``.
        model_path (None): path of a saved model file (``backtests/run.py`` caches them under ``backtests/cache/``).
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


_CLASSES = {cls.__name__: cls for cls in (MAMLRegimeStrategy, StaticModelStrategy, ReversalStrategy, MomentumStrategy,
                                           RegimeRuleStrategy, SMA200Strategy, ExposureMatchedStrategy,
                                           BuyAndHoldStrategy)}
#: each kind's backtrader class, in report order
STRATEGIES: dict[str, type[EngineStrategy]] = {kind: _CLASSES[spec.strategy] for kind, spec in KINDS.items()}
