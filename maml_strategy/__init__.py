"""maml_strategy: regime-adaptive meta-learning strategies for backtrader.

Every name below is importable from the top level (``from maml_strategy import X``).
Names load on first use, so ``import maml_strategy`` imports neither torch nor
backtrader. ``python -m maml_strategy params [Strategy]`` prints a strategy's params.

Strategies (backtrader; ``KINDS`` is the one table of the backtests' kinds, ``STRATEGIES`` their classes)
    MAMLRegimeStrategy     a learned model, adapted at each confirmed regime transition
                           (kinds maml and naive_finetune: the meta-learned or the static net)
    StaticModelStrategy    a learned model, never adapted (kinds static, maml_unadapted, gbdt)
    RegimeRuleStrategy     no net: long in chosen regimes, flat otherwise (control)
    SMA200Strategy         no net: long while the close is above its 200-day SMA (control)
    ExposureMatchedStrategy  constant mix at a given exposure, rebalanced monthly (diagnostic)
    BuyAndHoldStrategy     the benchmark: max_exposure from trade_start on
    STRATEGIES             {"maml": MAMLRegimeStrategy, ..., "buy_and_hold": BuyAndHoldStrategy}
    KINDS                  {"maml": KindSpec(model slot, adapts, seedless, role, ...), ...}
    PortfolioStrategy      one strategy over many datas: rank by a model or factor, hold the top k
    run_portfolio          backtest PortfolioStrategy on a {symbol: frame} universe over a window

Regimes
    Regime                 the six regimes (bull/bear/sideways x low/high volatility)
    RegimeDetector         streaming classifier: update(bar), label(df)
    RegimeIndicator        backtrader indicator with lines ``regime`` and ``transition``

Model
    MultiTimeframeExtractor   daily / weekly / monthly features of an OHLCV frame
    HierarchicalTimeframeNet  the network (one flat input row per bar)
    MAML                      meta-training and adaptation of that network
    load_learner              load a saved MAML or static model file

Data
    load_ohlcv             one symbol's validated OHLCV frame (file, cache or yfinance)
    load_universe          {symbol: frame} for a directory, a YAML list or "SPY,QQQ"

Configuration (the sections of a strategy YAML file, see strategies/*.yaml)
    StrategyConfig         the whole file: one field per section below
    load_config            read a YAML file into a StrategyConfig (unknown keys rejected)
    RegimeConfig           ``regime:``   detector windows, thresholds, min_dwell
    FeatureConfig          ``features:`` timeframes, label horizon, volatility window
    ModelConfig            ``model:``    layer widths (hidden_dim, tf_hidden_dim)
    TaskConfig             ``tasks:``    whether a task's support may reach into the previous regime
    TradingConfig          ``trading:``  exposure, position mode, costs, adaptation steps
    MAMLConfig             ``maml:``     meta-training: learning rates, steps, support/query sizes, epochs
    StaticConfig           ``static:``   the conventionally trained baseline's hyper-parameters
    GBDTConfig             ``gbdt:``     the boosted-trees control's LightGBM settings
    FewShotConfig          ``fewshot:``  the few-shot study's segment length and validation share

Errors (all derive from MamlStrategyError)
    MamlStrategyError      base class of every error raised on purpose
    DataError              missing, malformed or too little market data
    ConfigError            a bad config value or command-line argument
    ModelError             a missing, corrupt or incompatible model file
    BrokerError            a broker / Robinhood failure

Example:
    >>> from maml_strategy import RegimeConfig, StrategyConfig
    >>> StrategyConfig().regime == RegimeConfig()
    True

``dir(maml_strategy)`` shows only what is loaded (so ``help`` stays one page);
``maml_strategy.__all__`` lists every public name. Subpackages: ``config``, ``data``,
``regime``, ``features``, ``backtest``, ``live``; command-line helpers in ``cli``.
"""

from __future__ import annotations

import importlib
from typing import Any

from maml_strategy.version import __version__

_CONFIG_NAMES = ("KINDS", "KindSpec", "StrategyConfig", "load_config", "RegimeConfig", "FeatureConfig", "ModelConfig",
                 "TaskConfig", "TradingConfig", "MAMLConfig", "StaticConfig", "GBDTConfig", "FewShotConfig")
_STRATEGY_NAMES = ("MAMLRegimeStrategy", "StaticModelStrategy", "RegimeRuleStrategy", "SMA200Strategy",
                   "ExposureMatchedStrategy", "BuyAndHoldStrategy", "STRATEGIES")
_ERROR_NAMES = ("MamlStrategyError", "DataError", "ConfigError", "ModelError", "BrokerError")

# Public name -> "module:attribute". The only place to change when a name moves.
_LAZY: dict[str, str] = {
    **{name: f"maml_strategy.strategy:{name}" for name in _STRATEGY_NAMES},
    "PortfolioStrategy": "maml_strategy.portfolio:PortfolioStrategy",
    "run_portfolio": "maml_strategy.portfolio:run_portfolio",
    "Regime": "maml_strategy.regime:Regime",
    "RegimeDetector": "maml_strategy.regime:RegimeDetector",
    "RegimeIndicator": "maml_strategy.indicators:RegimeIndicator",
    "MultiTimeframeExtractor": "maml_strategy.features:MultiTimeframeExtractor",
    "HierarchicalTimeframeNet": "maml_strategy.model:HierarchicalTimeframeNet",
    "MAML": "maml_strategy.learners.maml:MAML",
    "load_learner": "maml_strategy.learners:load_learner",
    "load_ohlcv": "maml_strategy.data:load_ohlcv",
    "load_universe": "maml_strategy.data:load_universe",
    **{name: f"maml_strategy.config:{name}" for name in _CONFIG_NAMES},
    **{name: f"maml_strategy.errors:{name}" for name in _ERROR_NAMES},
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    """Import ``name`` from its home module on each access (PEP 562).

    The value is deliberately not cached in the module's namespace: pydoc renders
    every class it finds there, and ``help(maml_strategy)`` should stay one page.
    The cost is one dictionary look-up and one ``sys.modules`` hit per access.

    Example:
        >>> import maml_strategy
        >>> maml_strategy.RegimeConfig.__name__
        'RegimeConfig'
    """
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'maml_strategy' has no attribute {name!r}")
    module_name, attr = target.split(":")
    return getattr(importlib.import_module(module_name), attr)


def __dir__() -> list[str]:
    """Loaded names only; ``__all__`` lists every public name (see the module docstring)."""
    return sorted(globals())
