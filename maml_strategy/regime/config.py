"""Re-export of :class:`~maml_strategy.config.regime.RegimeConfig` (defined with the other configs).

Example:
    >>> from maml_strategy.regime import RegimeConfig
    >>> RegimeConfig(min_dwell=3).min_dwell
    3
"""

from __future__ import annotations

from maml_strategy.config.regime import RegimeConfig

__all__ = ["RegimeConfig"]
