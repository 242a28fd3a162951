"""What every learner is and what every learner trains on.

:class:`LearnerProtocol` is the surface the engine, the adaptation planner, the
backtests and the few-shot evaluation use, whatever the learner: MAML, the
static net (both :class:`~maml_strategy.learners.base.Learner`) and LightGBM
(:class:`~maml_strategy.learners.gbdt.GBDTModel`). :class:`TrainingData` is the
one input of every learner's ``fit`` (see :mod:`maml_strategy.learners.registry`),
built by :func:`maml_strategy.backtest.train.prepare_training` for the backtests
and by :func:`maml_strategy.backtest.fewshot.train_learners` for the few-shot study.

Example:
    >>> from maml_strategy.learners.static import StaticConfig, StaticModel
    >>> from maml_strategy.model import HierarchicalTimeframeNet
    >>> isinstance(StaticModel(HierarchicalTimeframeNet(2, 3, 1, 8), StaticConfig()), LearnerProtocol)
    True
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
from torch import Tensor

__all__ = ["LearnerProtocol", "TrainingData"]


@runtime_checkable
class LearnerProtocol(Protocol):
    """A fitted learner: predicts scaled rows, adapts to a support set, saves and loads itself.

    Adapted state (``params``) is opaque to callers: whatever :meth:`adapt`
    returns goes back into :meth:`predict` / :meth:`support_loss`; what
    :meth:`adapt_batch` returns is split per task by :meth:`task_params`.
    """

    kind: str  # the file kind (see maml_strategy.learners.registry.LEARNERS)
    scaler: Any  # the fitted feature scaler (inputs must already be scaled), or None
    feature_names: list[str] | None
    history: dict[str, Any]  # training curves

    @property
    def input_dim(self) -> int:
        """Feature dimension ``D``."""
        ...

    def predict(self, x: Tensor | np.ndarray, params: Any | None = None) -> Tensor:
        """Predictions ``[B]`` for scaled rows ``x [B, D]`` with the stored or adapted state."""
        ...

    def support_loss(self, x: Tensor | np.ndarray, y: Tensor | np.ndarray, params: Any | None = None) -> float:
        """Mean loss on ``(x, y)``."""
        ...

    def adapt(self, support_x: Tensor | np.ndarray, support_y: Tensor | np.ndarray, steps: int | None = None,
              lr: float | None = None) -> Any:
        """Adapted state after ``steps`` updates on one support set (the stored state is never changed)."""
        ...

    def adapt_batch(self, support_x: Tensor, support_y: Tensor, steps: int | None = None,
                    lr: float | None = None) -> Any:
        """:meth:`adapt` on ``N`` support sets ``[N, K, D]`` / ``[N, K]`` at once."""
        ...

    def task_losses(self, x: Tensor, y: Tensor, batch: Any | None = None) -> Tensor:
        """Loss per task ``[N]`` with the stored state or with an :meth:`adapt_batch` result."""
        ...

    def task_params(self, batch: Any, n: int) -> Any:
        """Task ``n``'s adapted state out of an :meth:`adapt_batch` result."""
        ...

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write an integrity-checked model file."""
        ...


@dataclass
class TrainingData:
    """One training window, ready for any learner's ``fit`` (nothing after the window's end).

    Rows are scaled with ``scaler`` (fitted on the training window); labels of the
    fitting rows end before the validation rows start (a gap of the label's lag).
    """

    x_fit: np.ndarray  # [n, D] scaled fitting rows (finite), before validation
    y_fit: np.ndarray  # [n] their labels
    x_val: np.ndarray  # [m, D] scaled validation rows (early stopping)
    y_val: np.ndarray  # [m] their labels
    train_sampler: Any  # maml_strategy.tasks.TaskSampler of meta-training tasks (MAML)
    val_sampler: Any  # TaskSampler of validation tasks (MAML early stopping)
    scaler: Any  # the fitted FeatureScaler, stored with every model
    feature_names: list[str]
    model_kwargs: dict[str, Any]  # HierarchicalTimeframeNet arguments matching the features
