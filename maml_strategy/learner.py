"""Common surface of the meta-learned and the static model.

:class:`Learner` holds a :class:`~maml_strategy.model.HierarchicalTimeframeNet`
plus the optional feature scaler and feature names, and implements
``predict``, ``support_loss``, ``adapt`` (plain SGD on the support set,
returning a *new* parameter dict: the stored parameters are never mutated),
``save`` and ``load``. :class:`~maml_strategy.maml.MAML` and
:class:`~maml_strategy.training.StaticModel` derive from it, so strategies can
treat both alike; :func:`load_learner` loads either, dispatching on the kind
recorded in the file.

Example:
    >>> import torch
    >>> from maml_strategy.training import StaticConfig, StaticModel
    >>> from maml_strategy.model import HierarchicalTimeframeNet
    >>> m = StaticModel(HierarchicalTimeframeNet(2, 3, 1, 8), StaticConfig())
    >>> x, y = torch.randn(16, 7), torch.randn(16)
    >>> p = m.adapt(x, y, steps=3, lr=0.05)
    >>> m.support_loss(x, y, p) < m.support_loss(x, y)
    True
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from maml_strategy.errors import ConfigError, DataError, ModelError
from maml_strategy.model import HierarchicalTimeframeNet
from maml_strategy.persistence import read_model_file, scaler_from_state, split_scaler_state, write_model_file

__all__ = ["Learner", "load_learner", "make_loss", "apply_num_threads", "sgd_adapt", "LOSSES"]

LOSSES = ("mse", "huber")


def make_loss(name: str, huber_delta: float = 1.0):
    """Mean loss ``f(pred, target) -> scalar`` for ``"mse"`` or ``"huber"``."""
    if name == "mse":
        return F.mse_loss
    if name == "huber":
        return lambda pred, target: F.huber_loss(pred, target, delta=huber_delta)
    raise ConfigError(f"loss must be one of {LOSSES}, got {name!r}")


def apply_num_threads(num_threads: int | None) -> None:
    """``torch.set_num_threads(num_threads)`` unless None or already set."""
    if num_threads is not None and torch.get_num_threads() != num_threads:
        torch.set_num_threads(num_threads)


def sgd_adapt(
    model: nn.Module,
    params: dict[str, Tensor],
    x: Tensor,
    y: Tensor,
    lrs: Sequence[float | Sequence[float]],
    loss_fn: Any,
    *,
    backend: str = "autograd",
) -> dict[str, Tensor]:
    """Plain SGD from ``params`` on ``(x, y)``; one entry of ``lrs`` per step.

    Each ``lrs[k]`` is a float or one float per parameter tensor (order of
    ``params``). No graph is kept between steps (no ``create_graph``); the
    returned tensors are new, ``params`` is left untouched.

    ``backend="autograd"`` uses ``torch.autograd.grad`` on fresh leaves,
    ``"func"`` uses ``torch.func.grad``; both give identical results, the
    first is ~2x faster for this net on CPU (see ``benchmarks/bench_maml.py``).
    """
    names = list(params)
    vals = [p.detach() for p in params.values()]
    if backend == "func":
        g = torch.func.grad(lambda p: loss_fn(functional_call(model, p, (x,)), y))
    for lr in lrs:
        if backend == "func":
            with torch.no_grad():
                gd = g(dict(zip(names, vals)))
            grads = [gd[n] for n in names]
            leaves = vals
        else:
            leaves = [v.detach().requires_grad_(True) for v in vals]
            with torch.enable_grad():
                loss = loss_fn(functional_call(model, dict(zip(names, leaves)), (x,)), y)
                grads = list(torch.autograd.grad(loss, leaves))
        with torch.no_grad():
            if isinstance(lr, (int, float)):
                vals = torch._foreach_add(leaves, grads, alpha=-float(lr))
            else:
                vals = [v - float(a) * g_ for v, g_, a in zip(leaves, grads, lr)]
    return {n: v.detach() for n, v in zip(names, vals)}


class Learner:
    """Base class: a network plus scaler/feature names with predict/adapt/save/load.

    Subclasses set ``kind`` and implement ``_config_dict``, ``_from_file``,
    ``_default_adapt_lrs``.
    """

    kind: ClassVar[str] = ""

    def __init__(
        self,
        model: HierarchicalTimeframeNet,
        *,
        scaler: Any | None = None,
        feature_names: Sequence[str] | None = None,
        device: str = "cpu",
        loss: str = "mse",
        huber_delta: float = 1.0,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise ConfigError(f"model must be a torch.nn.Module (HierarchicalTimeframeNet), got {type(model).__name__}")
        if feature_names is not None and not all(isinstance(n, str) for n in feature_names):
            raise ConfigError("feature_names must be a list of str")
        self.device = torch.device(device)
        self.model = model.to(self.device)
        self.scaler = scaler
        self.feature_names = list(feature_names) if feature_names is not None else None
        self.loss_fn = make_loss(loss, huber_delta)
        self.history: dict[str, Any] = {}

    # ------------------------------------------------------------ inputs
    @property
    def input_dim(self) -> int:
        """Expected feature dimension ``D``."""
        return int(getattr(self.model, "input_dim"))

    def _x(self, x: Tensor | np.ndarray, what: str = "x") -> Tensor:
        t = torch.as_tensor(np.asarray(x) if not isinstance(x, Tensor) else x)
        t = t.to(device=self.device, dtype=torch.float32)
        if t.dim() == 1:
            t = t.unsqueeze(0)
        if t.dim() != 2 or t.shape[1] != self.input_dim:
            raise DataError(f"{what} must have shape [B, {self.input_dim}], got {tuple(t.shape)}")
        return t

    def _xy(self, x: Tensor | np.ndarray, y: Tensor | np.ndarray, what: str = "support") -> tuple[Tensor, Tensor]:
        xt = self._x(x, f"{what}_x")
        yt = torch.as_tensor(np.asarray(y) if not isinstance(y, Tensor) else y).to(self.device, torch.float32).reshape(-1)
        if yt.shape[0] != xt.shape[0] or xt.shape[0] == 0:
            raise DataError(f"{what}_x has {xt.shape[0]} rows but {what}_y has {yt.shape[0]}; need the same number (>= 1)")
        if not (torch.isfinite(xt).all() and torch.isfinite(yt).all()):
            raise DataError(f"{what} set contains NaN/inf; drop rows whose features or labels are not finite")
        return xt, yt

    # ------------------------------------------------------------ params
    def parameters_dict(self) -> dict[str, Tensor]:
        """The stored (meta-)parameters, detached (share storage; do not modify in place)."""
        return {n: p.detach() for n, p in self.model.named_parameters()}

    # ------------------------------------------------------------ inference
    def predict(self, x: Tensor | np.ndarray, params: dict[str, Tensor] | None = None) -> Tensor:
        """Predictions ``[B]`` for ``x [B, D]`` (or ``[D]``), without gradients.

        Args:
            x: scaled features.
            params: adapted parameters from :meth:`adapt` (default: stored ones).
        """
        xt = self._x(x)
        with torch.no_grad():
            if params is None:
                return self.model(xt)
            return functional_call(self.model, params, (xt,))

    def support_loss(self, x: Tensor | np.ndarray, y: Tensor | np.ndarray, params: dict[str, Tensor] | None = None) -> float:
        """Mean loss of the model (or of ``params``) on ``(x, y)``."""
        xt, yt = self._xy(x, y)
        return float(self.loss_fn(self.predict(xt, params), yt))

    def _default_adapt_steps(self) -> int:
        raise NotImplementedError

    def _default_adapt_lrs(self, steps: int) -> list[float | list[float]]:
        raise NotImplementedError

    def adapt(
        self,
        support_x: Tensor | np.ndarray,
        support_y: Tensor | np.ndarray,
        steps: int | None = None,
        lr: float | None = None,
    ) -> dict[str, Tensor]:
        """SGD on the support set from the stored parameters; returns new parameters.

        The stored parameters are never modified. Pass the result to
        :meth:`predict` / :meth:`support_loss`.

        Args:
            support_x: ``[K, D]`` scaled features.
            support_y: ``[K]`` labels.
            steps: SGD steps (default from the config; 0 returns the stored parameters).
            lr: step size (default from the config / learned per-step rates).

        Returns:
            Parameter dict for ``torch.func.functional_call``.
        """
        xt, yt = self._xy(support_x, support_y)
        steps = self._default_adapt_steps() if steps is None else steps
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
            raise ConfigError(f"adapt: steps must be an int >= 0, got {steps!r}")
        if lr is not None and (not isinstance(lr, (int, float)) or not np.isfinite(lr) or lr < 0):
            raise ConfigError(f"adapt: lr must be a finite float >= 0, got {lr!r}")
        lrs = [float(lr)] * steps if lr is not None else self._default_adapt_lrs(steps)
        return sgd_adapt(self.model, self.parameters_dict(), xt, yt, lrs, self.loss_fn)

    # ------------------------------------------------------------ persistence
    def _config_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def _extra_tensors(self) -> dict[str, Tensor]:
        return {}

    def save(self, path: str | os.PathLike[str]) -> None:
        """Save parameters, config, model kwargs, scaler, feature names (integrity-checked).

        Example:
            >>> learner.save("models/spy.pt")  # doctest: +SKIP
        """
        kwargs = getattr(self.model, "init_kwargs", None)
        if not isinstance(self.model, HierarchicalTimeframeNet) or kwargs is None:
            raise ModelError(f"only HierarchicalTimeframeNet models can be saved, got {type(self.model).__name__}")
        scaler_plain, scaler_tensors = split_scaler_state(self.scaler)
        tensors = {f"model.{k}": v for k, v in self.model.state_dict().items()}
        tensors.update(scaler_tensors)
        tensors.update({f"extra.{k}": v for k, v in self._extra_tensors().items()})
        meta = {
            "config": self._config_dict(),
            "model_class": type(self.model).__name__,
            "model_kwargs": dict(kwargs),
            "feature_names": self.feature_names,
            "scaler": scaler_plain,
            "history": _jsonable(self.history),
        }
        write_model_file(path, kind=self.kind, meta=meta, tensors=tensors)

    @classmethod
    def _read(cls, path: str | os.PathLike[str]) -> tuple[dict[str, Any], HierarchicalTimeframeNet, Any, dict[str, Tensor]]:
        """Verify the file and rebuild model + scaler; returns (meta, model, scaler, extra tensors)."""
        meta, tensors = read_model_file(path, kind=cls.kind)
        if meta.get("model_class") != HierarchicalTimeframeNet.__name__:
            raise ModelError(f"{str(path)!r} holds an unknown model class {meta.get('model_class')!r}; retrain the model")
        try:
            model = HierarchicalTimeframeNet(**meta["model_kwargs"])
        except (TypeError, ConfigError, KeyError) as exc:
            raise ModelError(f"{str(path)!r}: model arguments {meta.get('model_kwargs')!r} are incompatible ({exc}); retrain") from exc
        state = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
        expected = model.state_dict()
        missing = sorted(set(expected) - set(state))
        unexpected = sorted(set(state) - set(expected))
        bad = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(v.shape)}" for k, v in expected.items() if k in state and state[k].shape != v.shape]
        if missing or unexpected or bad:
            raise ModelError(
                f"{str(path)!r} does not match the network it describes (missing {missing[:5]}, unexpected {unexpected[:5]}, "
                f"shape mismatches {bad[:5]}); it was saved by an incompatible version - retrain the model"
            )
        model.load_state_dict(state, strict=True)
        scaler = scaler_from_state(meta.get("scaler"), tensors)
        extra = {k[len("extra.") :]: v for k, v in tensors.items() if k.startswith("extra.")}
        return meta, model, scaler, extra


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, (np.integer, int, bool, str)) or obj is None:
        return obj.item() if isinstance(obj, np.generic) else obj
    return str(obj)


def load_learner(path: str | os.PathLike[str]) -> Learner:
    """Load a MAML or static model file, whichever it holds.

    Example:
        >>> model = load_learner("models/spy.pt")  # doctest: +SKIP
    """
    from maml_strategy.maml import MAML
    from maml_strategy.persistence import peek_kind
    from maml_strategy.training import StaticModel

    kind = peek_kind(path)
    if kind == MAML.kind:
        return MAML.load(path)
    if kind == StaticModel.kind:
        return StaticModel.load(path)
    if kind == "gbdt":
        from maml_strategy.gbdt import GBDTModel
        return GBDTModel.load(path)
    raise ModelError(f"{str(path)!r} holds an unknown model kind {kind!r}; retrain the model")
