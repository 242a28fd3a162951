"""Hyper-parameters of the learners: :class:`MAMLConfig` and :class:`StaticConfig`.

Types are checked by :class:`~maml_strategy.config.base.ConfigBase`; the
classes here only check ranges. The device string is checked where it is
used (:func:`maml_strategy.learners.base.resolve_device`), so that building or
loading a config never imports torch.

Example:
    >>> MAMLConfig(inner_steps=3, first_order=True).inner_steps
    3
    >>> StaticConfig(epochs=20, lr=3e-4).epochs
    20
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, get_args

from maml_strategy.config.base import ConfigBase, require

__all__ = ["ADAPT_SCOPES", "AdaptScope", "LOSSES", "LossName", "MAMLConfig", "StaticConfig"]

#: Loss names the learners understand.
LossName = Literal["mse", "huber"]
LOSSES: tuple[str, ...] = get_args(LossName)

#: Which parameters the inner loop (meta-training and adaptation alike) updates:
#: "all"; "head" (ANIL: the output layer head_out, weight and bias); "bias" (head_out.bias only).
AdaptScope = Literal["all", "head", "bias"]
ADAPT_SCOPES: tuple[str, ...] = get_args(AdaptScope)


@dataclass
class MAMLConfig(ConfigBase):
    """Hyper-parameters of :class:`~maml_strategy.learners.maml.MAML` (validated on construction).

    Example:
        >>> MAMLConfig(inner_steps=3, first_order=True).inner_steps
        3
    """

    inner_lr: float = 0.01  # SGD step of the inner loop; also adapt()'s default lr
    outer_lr: float = 0.001  # Adam step of the meta-update
    inner_steps: int = 5  # SGD steps per task in meta-training; adapt()'s default
    num_tasks_per_batch: int = 8  # tasks per meta-batch (vmapped together)
    support_size: int = 32  # K: support samples per task (must match the TaskSampler)
    query_size: int = 16  # Q: query samples per task (must match the TaskSampler)
    first_order: bool = False  # True: FOMAML (inner gradients detached), ~2x cheaper
    meta_epochs: int = 30  # epochs of meta-training (upper bound with early stopping)
    steps_per_epoch: int = 20  # meta-batches per epoch
    val_tasks: int = 48  # fixed validation tasks drawn once from val_sampler
    seed: int = 0  # torch seed at the start of meta_train
    device: str = "cpu"  # "cpu" or "cuda[:i]"; checked when the model is built (CUDA missing -> ConfigError)
    loss: LossName = "mse"  # "mse" or "huber"
    huber_delta: float = 1.0  # delta of the Huber loss
    grad_clip: float | None = 1.0  # max global norm of the meta-gradient; None = no clipping
    patience: int | None = 8  # epochs without val improvement before stopping; None = never stop early
    min_delta: float = 0.0  # improvement in val loss that resets patience
    learn_inner_lr: bool = False  # Meta-SGD/MAML++: learn one lr per inner step and parameter tensor
    weight_decay: float = 0.0  # Adam weight decay on the meta-parameters
    adapt_scope: AdaptScope = "all"  # parameters the inner loop updates, in meta-training and adapt() alike: "all"; "head" = ANIL, only the output layer (head_out.weight, head_out.bias); "bias" = only head_out.bias (level recalibration)
    proximal: float = 0.0  # iMAML-style proximal weight lambda: inner loss + lambda/2 * ||theta - theta_meta||^2 (meta-training and adapt() alike); 0 = off
    num_threads: int | None = 1  # torch threads. 1: a quiet 2-core machine trains ~15 % faster with 2, but any parallel work (walk-forward workers, a second process) makes 2 threads several times slower (bench_maml.py, bench_engine.py); None = leave as is

    def _validate(self) -> None:
        require(self.inner_lr > 0, f"inner_lr must be a float > 0 (e.g. 0.01), got {self.inner_lr!r}")
        require(self.outer_lr > 0, f"outer_lr must be a float > 0 (e.g. 0.001), got {self.outer_lr!r}")
        for name in ("inner_steps", "num_tasks_per_batch", "support_size", "query_size", "meta_epochs", "steps_per_epoch", "val_tasks"):
            v = getattr(self, name)
            require(v >= 1, f"{name} must be an int >= 1, got {v!r}")
        require(self.huber_delta > 0, f"huber_delta must be > 0, got {self.huber_delta!r}")
        require(self.grad_clip is None or self.grad_clip > 0, f"grad_clip must be a float > 0 or None, got {self.grad_clip!r}")
        require(self.patience is None or self.patience >= 1, f"patience must be an int >= 1 or None, got {self.patience!r}")
        require(self.min_delta >= 0, f"min_delta must be >= 0, got {self.min_delta!r}")
        require(self.weight_decay >= 0, f"weight_decay must be >= 0, got {self.weight_decay!r}")
        require(math.isfinite(self.proximal) and self.proximal >= 0,
                f"proximal must be a finite float >= 0 (0 = off, e.g. 1.0), got {self.proximal!r}")
        require(self.num_threads is None or self.num_threads >= 1, f"num_threads must be an int >= 1 or None, got {self.num_threads!r}")


@dataclass
class StaticConfig(ConfigBase):
    """Hyper-parameters of :func:`~maml_strategy.learners.static.train_static` (validated on construction).

    Example:
        >>> StaticConfig(epochs=20, lr=3e-4).epochs
        20
    """

    lr: float = 0.001  # Adam step size
    batch_size: int = 128  # minibatch size
    epochs: int = 60  # maximum epochs (early stopping usually ends sooner)
    val_fraction: float = 0.2  # last fraction of the (time-ordered) samples held out for validation
    horizon: int = 5  # label horizon: gap in rows between the training and the validation samples
    patience: int | None = 8  # epochs without val improvement before stopping; None = never stop early
    min_delta: float = 0.0  # val improvement that resets patience
    weight_decay: float = 1e-4  # Adam weight decay
    grad_clip: float | None = 1.0  # max global gradient norm; None = no clipping
    loss: LossName = "mse"  # "mse" or "huber"
    huber_delta: float = 1.0  # delta of the Huber loss
    finetune_steps: int = 5  # StaticModel.adapt() default: SGD steps of naive fine-tuning
    finetune_lr: float = 0.01  # StaticModel.adapt() default: SGD step size (same as MAML's inner_lr)
    seed: int = 0  # torch seed (init is the caller's; this seeds shuffling)
    device: str = "cpu"  # "cpu" or "cuda[:i]"; checked when the model is built (CUDA missing -> ConfigError)
    num_threads: int | None = 1  # torch threads (see MAMLConfig.num_threads); None = leave as is

    def _validate(self) -> None:
        require(self.lr > 0, f"lr must be a float > 0 (e.g. 1e-3), got {self.lr!r}")
        for name, low in (("batch_size", 1), ("epochs", 1), ("finetune_steps", 0)):
            v = getattr(self, name)
            require(v >= low, f"{name} must be an int >= {low}, got {v!r}")
        require(0 < self.val_fraction < 1, f"val_fraction must be in (0, 1), e.g. 0.2, got {self.val_fraction!r}")
        require(self.horizon >= 0, f"horizon must be an int >= 0, got {self.horizon!r}")
        require(self.patience is None or self.patience >= 1, f"patience must be an int >= 1 or None, got {self.patience!r}")
        require(self.min_delta >= 0, f"min_delta must be >= 0, got {self.min_delta!r}")
        require(self.weight_decay >= 0, f"weight_decay must be >= 0, got {self.weight_decay!r}")
        require(self.grad_clip is None or self.grad_clip > 0, f"grad_clip must be > 0 or None, got {self.grad_clip!r}")
        require(self.huber_delta > 0, f"huber_delta must be > 0, got {self.huber_delta!r}")
        require(self.finetune_lr >= 0, f"finetune_lr must be >= 0, got {self.finetune_lr!r}")
        require(self.num_threads is None or self.num_threads >= 1, f"num_threads must be an int >= 1 or None, got {self.num_threads!r}")
