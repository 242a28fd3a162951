"""Features, labels and scaling (no backtrader here).

Example:
    >>> from maml_strategy.features import MultiTimeframeExtractor, forward_returns  # doctest: +SKIP
"""

from maml_strategy.features.extractor import FeatureRow, Features, MultiTimeframeExtractor
from maml_strategy.features.factors import FACTORS, factor_signal, momentum, reversal
from maml_strategy.features.labels import (LABELS, before_validation, forward_returns, known_at, label_lag, make_labels,
                                          support_history, tradable_returns)
from maml_strategy.features.scaler import FeatureScaler

__all__ = [
    "FACTORS",
    "LABELS",
    "factor_signal",
    "label_lag",
    "make_labels",
    "momentum",
    "reversal",
    "tradable_returns",
    "FeatureRow",
    "FeatureScaler",
    "Features",
    "MultiTimeframeExtractor",
    "forward_returns",
    "known_at",
    "before_validation",
    "support_history",
]
