"""Causal market-regime detection (trend x volatility), batch and streaming.

Never imports backtrader; :mod:`maml_strategy.indicators` wraps the same
streaming core as a backtrader indicator.

Example:
    >>> from maml_strategy.regime import Regime, RegimeConfig, RegimeDetector
    >>> det = RegimeDetector(RegimeConfig())
    >>> det.warmup
    264
"""

from __future__ import annotations

from maml_strategy.regime.config import RegimeConfig
from maml_strategy.regime.detector import REQUIRED_COLUMNS, RegimeDetector, segments_from_codes
from maml_strategy.regime.types import TRENDS, Regime, RegimeSegment

__all__ = [
    "Regime",
    "RegimeConfig",
    "RegimeDetector",
    "RegimeSegment",
    "REQUIRED_COLUMNS",
    "TRENDS",
    "segments_from_codes",
]
