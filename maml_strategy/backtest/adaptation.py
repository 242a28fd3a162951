"""Scoring a learner's few-shot adaptation: query loss and directional accuracy after k SGD steps.

Example:
    >>> curve = adaptation_curve(trained.static, tasks, range(11), lr=0.01)  # doctest: +SKIP
    >>> curve.best_steps  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from maml_strategy.errors import ConfigError, DataError
from maml_strategy.learners.base import Learner, sgd_adapt
from maml_strategy.tasks import TaskBatch

__all__ = ["AdaptationCurve", "adaptation_curve", "evaluate_learner"]


@dataclass
class AdaptationCurve:
    """Mean query MSE and directional accuracy over tasks after each number of SGD steps.

    Attributes:
        steps: the step counts (ascending).
        loss: mean query MSE per entry of ``steps``.
        accuracy: mean directional accuracy (0..1) per entry of ``steps``.
    """

    steps: list[int]
    loss: list[float]
    accuracy: list[float]

    def at(self, steps: int) -> tuple[float, float]:
        """``(loss, accuracy)`` after ``steps`` steps (must be one of :attr:`steps`)."""
        if steps not in self.steps:
            raise ConfigError(f"the curve was evaluated at {self.steps}, not at {steps} steps")
        i = self.steps.index(steps)
        return self.loss[i], self.accuracy[i]

    @property
    def best_steps(self) -> int:
        """Step count with the lowest query loss (the first one on ties)."""
        return self.steps[int(np.argmin(self.loss))]

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-serialisable)."""
        return {"steps": list(self.steps), "loss": list(self.loss), "accuracy": list(self.accuracy)}


def _task_metrics(pred: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    nz = y != 0
    return float(torch.mean((pred - y) ** 2)), float((torch.sign(pred[nz]) == torch.sign(y[nz])).float().mean())


def evaluate_learner(
    learner: Learner, tasks: TaskBatch, steps: int | None, lr: float | None
) -> tuple[float, float]:
    """Mean query MSE and directional accuracy over ``tasks`` after ``steps`` SGD steps of ``lr``.

    ``steps=None`` / ``lr=None`` use the learner's own adaptation defaults (for a
    Meta-SGD model, its learned per-step rates); ``steps=0`` scores it unadapted.

    Example:
        >>> loss, acc = evaluate_learner(trained.maml, tasks, steps=5, lr=0.01)  # doctest: +SKIP
    """
    losses, accs = [], []
    for i in range(len(tasks)):
        params = learner.adapt(tasks.support_x[i], tasks.support_y[i], steps=steps, lr=lr) if steps != 0 else None
        loss, acc = _task_metrics(learner.predict(tasks.query_x[i], params), tasks.query_y[i].to(learner.device))
        losses.append(loss)
        accs.append(acc)
    return float(np.mean(losses)), float(np.mean(accs))


def adaptation_curve(learner: Learner, tasks: TaskBatch, steps: Sequence[int], lr: float) -> AdaptationCurve:
    """Query MSE / directional accuracy after each step count in ``steps``, adapting incrementally.

    Same numbers as :func:`evaluate_learner` for each step count (plain SGD
    from the stored parameters with step ``lr``), but each task is adapted
    only ``max(steps)`` times.

    Args:
        learner: a :class:`MAML` or :class:`StaticModel`.
        tasks: evaluation tasks.
        steps: step counts (>= 0; sorted and de-duplicated).
        lr: SGD step size.

    Returns:
        An :class:`AdaptationCurve`.

    Example:
        >>> curve = adaptation_curve(trained.static, tasks, range(11), lr=0.01)  # doctest: +SKIP
        >>> curve.best_steps  # doctest: +SKIP
    """
    checkpoints = sorted({int(s) for s in steps})
    if not checkpoints or checkpoints[0] < 0 or any(isinstance(s, bool) for s in steps):
        raise ConfigError(f"steps must be non-empty ints >= 0, got {list(steps)!r}")
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not np.isfinite(lr) or lr < 0:
        raise ConfigError(f"lr must be a finite float >= 0, got {lr!r}")
    if len(tasks) == 0:
        raise DataError("no evaluation tasks")
    dev = learner.device
    loss = np.zeros((len(tasks), len(checkpoints)))
    acc = np.zeros_like(loss)
    for i in range(len(tasks)):
        sx, sy = tasks.support_x[i].to(dev), tasks.support_y[i].to(dev)
        qx, qy = tasks.query_x[i].to(dev), tasks.query_y[i].to(dev)
        if not (torch.isfinite(sx).all() and torch.isfinite(sy).all()):
            raise DataError(f"task {i}: support set contains NaN/inf")
        params, done = learner.parameters_dict(), 0
        for j, k in enumerate(checkpoints):
            if k > done:
                params = sgd_adapt(learner.model, params, sx, sy, [float(lr)] * (k - done), learner.loss_fn)
                done = k
            loss[i, j], acc[i, j] = _task_metrics(learner.predict(qx, params if done > 0 else None), qy)
    return AdaptationCurve(checkpoints, [float(v) for v in loss.mean(axis=0)], [float(v) for v in acc.mean(axis=0)])
