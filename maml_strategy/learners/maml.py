"""Model-Agnostic Meta-Learning (MAML, Finn et al. 2017) with ``torch.func``.

The inner loop is ``inner_steps`` SGD steps on a task's support set computed
with ``torch.func.grad`` + ``functional_call``; the meta-batch of tasks is
processed in one ``torch.func.vmap``; the outer loss (query loss at the
adapted parameters) is differentiated through the inner loop
(second-order by default; ``first_order=True`` detaches the inner gradients,
i.e. FOMAML). Optional Meta-SGD/MAML++-style learned per-step,
per-parameter-tensor inner learning rates (``learn_inner_lr=True``).
``adapt_scope`` restricts the inner loop to the output layer (ANIL, ``"head"``)
or its bias (``"bias"``), and ``proximal`` adds an iMAML-style penalty
``proximal / 2 * ||theta - theta_meta||^2`` to the inner loss; both apply to
meta-training and to :meth:`~maml_strategy.learners.base.Learner.adapt` /
``adapt_batch`` alike (:mod:`maml_strategy.learners.inner`), and the config, saved in the
model file, makes a loaded model adapt as it was meta-trained.

Example:
    >>> import torch
    >>> from maml_strategy.model import HierarchicalTimeframeNet
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> maml = MAML(HierarchicalTimeframeNet(2, 4, 1, 16), MAMLConfig(inner_steps=2))
    >>> sx, sy = torch.randn(8, 9), torch.randn(8)
    >>> params = maml.adapt(sx, sy)          # new dict, meta-parameters untouched
    >>> maml.predict(torch.randn(3, 9), params).shape
    torch.Size([3])
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.func import functional_call, vmap

from maml_strategy.config import MAMLConfig, StrategyConfig
from maml_strategy.errors import ConfigError, ModelError
from maml_strategy.learners.base import Learner, apply_num_threads, inner_loop
from maml_strategy.learners.protocol import TrainingData
from maml_strategy.learners.stopping import fit_epochs
from maml_strategy.model import HierarchicalTimeframeNet
from maml_strategy.tasks import TaskBatch, TaskSampler

__all__ = ["MAMLConfig", "MAML", "fit"]  # MAMLConfig lives in maml_strategy.config (re-exported here)


class MAML(Learner):
    """Meta-learned initialisation (and optionally inner learning rates) of a network.

    Args:
        model: the network (its parameters are the meta-parameters).
        config: hyper-parameters.
        scaler: fitted feature scaler stored with the model (features passed to
            this class must already be scaled).
        feature_names: names of the feature columns, stored with the model.

    Example:
        >>> maml = MAML(HierarchicalTimeframeNet(), MAMLConfig())  # doctest: +SKIP
        >>> history = maml.meta_train(train_sampler, val_sampler=val_sampler)  # doctest: +SKIP
        >>> maml.save("models/maml_spy.pt")  # doctest: +SKIP
    """

    kind = "maml"
    config_class = MAMLConfig

    def __init__(
        self,
        model: HierarchicalTimeframeNet,
        config: MAMLConfig | None = None,
        *,
        scaler: Any | None = None,
        feature_names: list[str] | None = None,
    ) -> None:
        super().__init__(model, config, scaler=scaler, feature_names=feature_names)
        self.config: MAMLConfig
        self._names = [n for n, _ in self.model.named_parameters()]
        # learned inner learning rates [inner_steps, n_param_tensors] (Meta-SGD / MAML++)
        self.inner_lrs: Tensor | None = None
        if self.config.learn_inner_lr:
            self.inner_lrs = torch.full((self.config.inner_steps, len(self._names)), float(self.config.inner_lr), device=self.device)

    # ------------------------------------------------------------ inner loop
    def _adapted(self, params: dict[str, Tensor], lrs: Tensor | None, sx: Tensor, sy: Tensor, steps: int, first_order: bool) -> dict[str, Tensor]:
        """Differentiable inner loop (single task; used under vmap)."""
        if lrs is None:
            step_lrs: list[Any] = [self.config.inner_lr] * steps
        else:
            step_lrs = [lrs[min(k, lrs.shape[0] - 1)] for k in range(steps)]
        names, proximal = self.adapt_settings()
        return inner_loop(self.model, params, sx, sy, self.loss_fn, step_lrs, first_order=first_order,
                          adapt_names=names, proximal=proximal)

    def _task_query_loss(self, params: dict[str, Tensor], lrs: Tensor | None, sx: Tensor, sy: Tensor, qx: Tensor, qy: Tensor, steps: int, first_order: bool) -> Tensor:
        adapted = self._adapted(params, lrs, sx, sy, steps, first_order)
        return self.loss_fn(functional_call(self.model, adapted, (qx,)), qy)

    def meta_loss(self, batch: TaskBatch, *, steps: int | None = None, first_order: bool | None = None) -> Tensor:
        """Mean post-adaptation query loss over a batch of tasks (differentiable w.r.t. meta-parameters).

        Args:
            batch: tasks (``support_x [N,K,D]``, ...).
            steps: inner steps (default ``config.inner_steps``).
            first_order: default ``config.first_order``.

        Returns:
            Scalar tensor.
        """
        steps = self.config.inner_steps if steps is None else steps
        first_order = self.config.first_order if first_order is None else first_order
        params = dict(self.model.named_parameters())
        b = batch.to(self.device)

        def one(sx: Tensor, sy: Tensor, qx: Tensor, qy: Tensor) -> Tensor:
            return self._task_query_loss(params, self.inner_lrs, sx, sy, qx, qy, steps, first_order)

        losses = vmap(one)(b.support_x, b.support_y, b.query_x, b.query_y)  # [N]
        return losses.mean()

    def evaluate(self, batch: TaskBatch, steps: int | None = None) -> float:
        """Mean query loss after ``steps`` inner steps (no meta-gradient)."""
        steps = self.config.inner_steps if steps is None else steps
        with torch.no_grad():  # torch.func.grad still differentiates inside
            return float(self.meta_loss(batch, steps=steps, first_order=True))

    # ------------------------------------------------------------ outer loop
    def _trainable(self) -> list[Tensor]:
        ps = list(self.model.parameters())
        if self.inner_lrs is not None:
            ps.append(self.inner_lrs)
        return ps

    def _snapshot(self) -> dict[str, Tensor]:
        snap = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        if self.inner_lrs is not None:
            snap["__inner_lrs__"] = self.inner_lrs.detach().clone()
        return snap

    def _restore(self, snap: dict[str, Tensor]) -> None:
        snap = dict(snap)
        lrs = snap.pop("__inner_lrs__", None)
        self.model.load_state_dict(snap)
        if lrs is not None and self.inner_lrs is not None:
            with torch.no_grad():
                self.inner_lrs.copy_(lrs)

    def meta_train(
        self,
        task_sampler: TaskSampler,
        epochs: int | None = None,
        *,
        val_sampler: TaskSampler | None = None,
        progress: bool = True,
    ) -> dict[str, Any]:
        """Meta-train with Adam on vmapped meta-batches; early stopping on validation tasks.

        Args:
            task_sampler: training tasks (``support_size``/``query_size`` must match the config).
            epochs: number of epochs (default ``config.meta_epochs``).
            val_sampler: validation tasks; ``config.val_tasks`` of them are drawn
                once and reused every epoch. When given, the parameters with the
                lowest validation query loss are restored at the end.
            progress: show a tqdm bar.

        Returns:
            History dict: ``epoch``, ``train_query_loss``, ``val_query_loss``
            (post-adaptation), ``val_query_loss_unadapted``, ``best_epoch``,
            ``best_val_loss``, ``stopped_early``.
        """
        cfg = self.config
        epochs = cfg.meta_epochs if epochs is None else epochs
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
            raise ConfigError(f"epochs must be an int >= 1, got {epochs!r}")
        if not isinstance(task_sampler, TaskSampler):
            raise ConfigError(f"task_sampler must be a TaskSampler, got {type(task_sampler).__name__}")
        if (task_sampler.support_size, task_sampler.query_size) != (cfg.support_size, cfg.query_size):
            raise ConfigError(
                f"TaskSampler has support/query sizes ({task_sampler.support_size}, {task_sampler.query_size}) but the "
                f"MAMLConfig says ({cfg.support_size}, {cfg.query_size}); build the sampler with the config's sizes"
            )
        apply_num_threads(cfg.num_threads)
        torch.manual_seed(cfg.seed)
        self.model.train()
        if self.inner_lrs is not None:
            self.inner_lrs.requires_grad_(True)
        opt = torch.optim.Adam(self._trainable(), lr=cfg.outer_lr, weight_decay=cfg.weight_decay)
        val_batch = val_sampler.sample(cfg.val_tasks) if val_sampler is not None else None

        def run_epoch(_epoch: int) -> dict[str, float]:
            losses = []
            for _ in range(cfg.steps_per_epoch):
                batch = task_sampler.sample(cfg.num_tasks_per_batch)
                loss = self.meta_loss(batch)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.grad_clip is not None:
                    torch.nn.utils.clip_grad_norm_(self._trainable(), cfg.grad_clip)
                opt.step()
                if self.inner_lrs is not None:
                    with torch.no_grad():
                        self.inner_lrs.clamp_(min=0.0)
                losses.append(float(loss.detach()))
            out = {"train_query_loss": float(np.mean(losses))}
            if val_batch is not None:
                out["val_query_loss"] = self.evaluate(val_batch)
                out["val_query_loss_unadapted"] = self.evaluate(val_batch, steps=0)
            return out

        hist = fit_epochs(epochs, run_epoch, monitor="val_query_loss" if val_batch is not None else None,
                          patience=cfg.patience, min_delta=cfg.min_delta, snapshot=self._snapshot,
                          restore=self._restore, desc="meta-train", progress=progress)
        for name in ("val_query_loss", "val_query_loss_unadapted"):
            hist.setdefault(name, [])
        if self.inner_lrs is not None:
            self.inner_lrs.requires_grad_(False)
        self.model.eval()
        self.history = hist
        return hist

    # ------------------------------------------------------------ adaptation
    def _default_adapt_steps(self) -> int:
        return self.config.inner_steps

    def _adapt_scope(self) -> tuple[str, float]:
        return self.config.adapt_scope, self.config.proximal

    def _default_adapt_lrs(self, steps: int) -> list[float | list[float]]:
        if self.inner_lrs is None:
            return [self.config.inner_lr] * steps
        table = self.inner_lrs.detach().cpu().tolist()
        return [table[min(k, len(table) - 1)] for k in range(steps)]

    # ------------------------------------------------------------ persistence
    def _extra_tensors(self) -> dict[str, Tensor]:
        return {} if self.inner_lrs is None else {"inner_lrs": self.inner_lrs.detach()}

    def _load_extra(self, extra: dict[str, Tensor], path: str | os.PathLike[str]) -> None:
        if self.config.learn_inner_lr:
            lrs = extra.get("inner_lrs")
            if lrs is None or self.inner_lrs is None or lrs.shape != self.inner_lrs.shape:
                raise ModelError(f"{str(path)!r}: learned inner learning rates are missing or mis-shaped; retrain the model")
            self.inner_lrs = lrs.to(self.device).clone()


def fit(data: TrainingData, cfg: StrategyConfig, *, seed: int = 0, progress: bool = False) -> MAML:
    """Meta-train MAML (``cfg.maml`` with ``seed``) on ``data``'s task samplers, early-stopped on its validation tasks.

    The registry's trainer for kind ``"maml"`` (:func:`maml_strategy.learners.fit_learner`).

    Example:
        >>> maml = fit(data, load_config(), seed=0)  # doctest: +SKIP
    """
    mcfg = dataclasses.replace(cfg.maml, seed=seed)
    torch.manual_seed(seed)
    maml = MAML(HierarchicalTimeframeNet(**data.model_kwargs), mcfg, scaler=data.scaler,
                feature_names=data.feature_names)
    maml.meta_train(data.train_sampler, mcfg.meta_epochs, val_sampler=data.val_sampler, progress=progress)
    return maml
