"""Features, labels and scaling (no backtrader here).

Example:
    >>> from maml_strategy.features import MultiTimeframeExtractor, forward_returns  # doctest: +SKIP
"""

from maml_strategy.features.extractor import FeatureRow, Features, MultiTimeframeExtractor
from maml_strategy.features.labels import forward_returns, known_label_positions
from maml_strategy.features.scaler import FeatureScaler

__all__ = [
    "FeatureRow",
    "FeatureScaler",
    "Features",
    "MultiTimeframeExtractor",
    "forward_returns",
    "known_label_positions",
]
