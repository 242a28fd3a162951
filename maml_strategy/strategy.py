"""backtrader strategies: the thin adapter around :class:`~maml_strategy.engine.SignalEngine`.

* :class:`MAMLRegimeStrategy` — adapts the meta-learned model on each confirmed regime transition.
* :class:`StaticModelStrategy` — the Phase-1 model, never adapted.
* :class:`NaiveFinetuneStrategy` — the same adaptation path, starting from the static model.
* :class:`BuyAndHoldStrategy` and the other no-net controls live in :mod:`maml_strategy.controls`
  (re-exported here); the shared adapter is :class:`~maml_strategy.strategy_base.EngineStrategy`.
* :data:`STRATEGIES` — the registry of every kind, by name.

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


from maml_strategy.controls import (DEFAULT_LONG_REGIMES, BuyAndHoldStrategy, ExposureMatchedStrategy, FactorStrategy,
                                    MomentumStrategy, RegimeRuleStrategy, ReversalStrategy, SMA200Strategy)
from maml_strategy.learners import load_learner
from maml_strategy.strategy_base import EngineStrategy

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


class MAMLRegimeStrategy(EngineStrategy):
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


class MAMLUnadaptedStrategy(EngineStrategy):
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


class StaticModelStrategy(EngineStrategy):
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


class GBDTStrategy(EngineStrategy):
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


class NaiveFinetuneStrategy(EngineStrategy):
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


STRATEGIES: dict[str, type[EngineStrategy]] = {
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
