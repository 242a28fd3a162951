"""maml_strategy: regime-adaptive meta-learning strategies for backtrader.

Everything a user needs is importable from the top level; the names are
loaded lazily, so ``import maml_strategy`` itself imports neither torch nor
backtrader (the first access to e.g. ``maml_strategy.MAML`` does).

Strategies (backtrader): ``MAMLRegimeStrategy``, ``StaticModelStrategy``,
``NaiveFinetuneStrategy``, ``BuyAndHoldStrategy``.
Regimes: ``RegimeDetector``, ``Regime``, ``RegimeIndicator`` (backtrader indicator).
Model: ``MultiTimeframeExtractor``, ``HierarchicalTimeframeNet``, ``MAML``, ``MAMLConfig``,
``load_learner`` (a saved MAML or static model).
Data and configuration: ``load_ohlcv``, ``load_universe``, ``StrategyConfig``, ``load_config``.
Errors (all derive from ``MamlStrategyError``): ``DataError``, ``ConfigError``,
``ModelError``, ``BrokerError``.

Example:
    >>> import backtrader as bt
    >>> from maml_strategy import BuyAndHoldStrategy, load_ohlcv
    >>> df = load_ohlcv("SPY", "2007-01-01", "2008-12-31")  # doctest: +SKIP
    >>> cerebro = bt.Cerebro()
    >>> cerebro.adddata(bt.feeds.PandasData(dataname=df))  # doctest: +SKIP
    >>> cerebro.addstrategy(BuyAndHoldStrategy, trade_start="2008-01-01")  # doctest: +SKIP
    >>> from maml_strategy import RegimeDetector
    >>> RegimeDetector().label(df).value_counts()  # doctest: +SKIP

The core (``regime``, ``features``, ``model``, ``maml``, ``tasks``, ``data``)
never imports backtrader; the backtrader layer lives in ``strategy`` and
``indicators``, the Robinhood adapter in ``live``, command-line helpers in ``cli``.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

from maml_strategy.errors import BrokerError, ConfigError, DataError, MamlStrategyError, ModelError

# Public name -> "module:attribute". The only place to change when a name moves.
_LAZY: dict[str, str] = {
    "MAMLRegimeStrategy": "maml_strategy.strategy:MAMLRegimeStrategy",
    "StaticModelStrategy": "maml_strategy.strategy:StaticModelStrategy",
    "NaiveFinetuneStrategy": "maml_strategy.strategy:NaiveFinetuneStrategy",
    "BuyAndHoldStrategy": "maml_strategy.strategy:BuyAndHoldStrategy",
    "RegimeDetector": "maml_strategy.regime:RegimeDetector",
    "Regime": "maml_strategy.regime:Regime",
    "RegimeIndicator": "maml_strategy.indicators:RegimeIndicator",
    "MultiTimeframeExtractor": "maml_strategy.features:MultiTimeframeExtractor",
    "HierarchicalTimeframeNet": "maml_strategy.model:HierarchicalTimeframeNet",
    "MAML": "maml_strategy.maml:MAML",
    "MAMLConfig": "maml_strategy.maml:MAMLConfig",
    "load_ohlcv": "maml_strategy.data:load_ohlcv",
    "load_universe": "maml_strategy.data:load_universe",
    "load_learner": "maml_strategy.learners:load_learner",
    "StrategyConfig": "maml_strategy.config:StrategyConfig",
    "load_config": "maml_strategy.config:load_config",
}

__all__ = [
    "__version__",
    "MamlStrategyError",
    "DataError",
    "ConfigError",
    "ModelError",
    "BrokerError",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    """Import ``name`` from its home module on first access (PEP 562)."""
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'maml_strategy' has no attribute {name!r}")
    module_name, attr = target.split(":")
    value = getattr(importlib.import_module(module_name), attr)
    globals()[name] = value  # cache: later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
