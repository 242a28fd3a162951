"""maml_strategy: regime-adaptive meta-learning strategies for backtrader.

The core (``regime``, ``features``, ``model``, ``maml``, ``tasks``, ``data``)
never imports backtrader; the backtrader layer lives in ``strategy`` and
``indicators``, the Robinhood adapter in ``live``.
"""

from __future__ import annotations

__version__ = "0.1.0"

from maml_strategy.errors import BrokerError, ConfigError, DataError, MamlStrategyError, ModelError

__all__ = [
    "__version__",
    "MamlStrategyError",
    "DataError",
    "ConfigError",
    "ModelError",
    "BrokerError",
]
