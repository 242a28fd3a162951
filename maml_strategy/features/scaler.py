"""Robust feature standardisation fitted on training rows only."""

from __future__ import annotations

from typing import Any

import numpy as np

from maml_strategy.errors import DataError, ModelError

__all__ = ["FeatureScaler"]


class FeatureScaler:
    """Median/IQR standardisation with clipping, fitted on training rows only.

    ``transform(x) = clip((x - median) / (IQR / 1.349), -clip, clip)``; columns
    with zero spread get scale 1. The fitted state is saved inside every model file.

    Args:
        clip: absolute bound applied after scaling (default 5.0 robust sigmas).

    Example:
        >>> import numpy as np
        >>> sc = FeatureScaler().fit(np.arange(20.0).reshape(10, 2))
        >>> sc.transform(np.array([[9.0, 10.0]])).shape
        (1, 2)
    """

    def __init__(self, clip: float = 5.0) -> None:
        if not clip > 0:
            raise DataError(f"clip must be > 0, got {clip}")
        self.clip = float(clip)
        self.center: np.ndarray | None = None
        self.scale: np.ndarray | None = None

    @property
    def n_features(self) -> int:
        """Number of columns the scaler was fitted on (0 before ``fit``)."""
        return 0 if self.center is None else int(self.center.shape[0])

    @property
    def fitted(self) -> bool:
        """True once ``fit`` has run."""
        return self.center is not None

    def fit(self, x: np.ndarray) -> "FeatureScaler":
        """Fit on training rows ``x`` of shape ``[n, D]``; rows with NaN are ignored."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2:
            raise DataError(f"FeatureScaler.fit expects a 2-D array [n, D], got shape {x.shape}")
        rows = x[np.isfinite(x).all(axis=1)]
        if len(rows) < 2:
            raise DataError(f"FeatureScaler.fit needs >= 2 finite rows, got {len(rows)}; use a longer training window")
        q25, q50, q75 = np.percentile(rows, [25, 50, 75], axis=0)
        scale = (q75 - q25) / 1.349
        std = rows.std(axis=0)
        scale = np.where(scale > 1e-12, scale, np.where(std > 1e-12, std, 1.0))
        self.center, self.scale = q50, scale
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Scale ``x`` (``[..., D]``) and return float32; NaN stays NaN."""
        if self.center is None or self.scale is None:
            raise DataError("FeatureScaler is not fitted; call fit(train_rows) first")
        x = np.asarray(x, dtype=np.float64)
        if x.shape[-1] != self.n_features:
            raise DataError(f"expected {self.n_features} features, got {x.shape[-1]}")
        z = (x - self.center) / self.scale
        return np.clip(z, -self.clip, self.clip).astype(np.float32)

    def state_dict(self) -> dict[str, Any]:
        """Weights-only-safe state (tensors and floats) for model files."""
        if self.center is None or self.scale is None:
            raise ModelError("cannot save an unfitted FeatureScaler")
        import torch  # lazy: the feature pipeline itself does not need torch

        return {
            "center": torch.from_numpy(self.center.copy()),
            "scale": torch.from_numpy(self.scale.copy()),
            "clip": self.clip,
        }

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> "FeatureScaler":
        """Rebuild a scaler saved with :meth:`state_dict`."""
        try:
            sc = cls(clip=float(state["clip"]))
            sc.center = state["center"].detach().cpu().numpy().astype(np.float64)
            sc.scale = state["scale"].detach().cpu().numpy().astype(np.float64)
        except (KeyError, AttributeError, TypeError, ValueError) as exc:
            raise ModelError(f"invalid feature scaler state in model file: {exc}") from exc
        if sc.center.shape != sc.scale.shape or sc.center.ndim != 1:
            raise ModelError("invalid feature scaler state: center/scale shapes differ")
        return sc
