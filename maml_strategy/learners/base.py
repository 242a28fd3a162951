"""Common surface of the meta-learned and the static model.

:class:`Learner` holds a :class:`~maml_strategy.model.HierarchicalTimeframeNet`
plus the optional feature scaler and feature names, and implements
``predict``, ``support_loss``, ``adapt`` (plain SGD on the support set,
returning a *new* parameter dict: the stored parameters are never mutated),
``save`` and ``load``. :class:`~maml_strategy.learners.maml.MAML` and
:class:`~maml_strategy.learners.static.StaticModel` derive from it, so strategies can
treat both alike; :func:`maml_strategy.learners.load_learner` loads any kind,
dispatching on the kind recorded in the file.

:func:`~maml_strategy.learners.inner.inner_loop` is the one SGD inner loop (``torch.func.grad``
+ ``functional_call``): MAML's meta-training differentiates through it (under
``vmap``), :meth:`Learner.adapt_batch` runs it under ``vmap`` without a graph and
:meth:`Learner.adapt` runs the same arithmetic with plain autograd
(:func:`~maml_strategy.learners.inner.sgd_adapt`), on the parameters of the learner's
adaptation scope and with its proximal weight (:meth:`Learner.adapt_settings`).

Example:
    >>> import torch
    >>> from maml_strategy.learners.static import StaticConfig, StaticModel
    >>> from maml_strategy.model import HierarchicalTimeframeNet
    >>> m = StaticModel(HierarchicalTimeframeNet(2, 3, 1, 8), StaticConfig())
    >>> x, y = torch.randn(16, 7), torch.randn(16)
    >>> p = m.adapt(x, y, steps=3, lr=0.05)
    >>> m.support_loss(x, y, p) < m.support_loss(x, y)
    True
"""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from typing import Any, ClassVar, Self

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, vmap

from maml_strategy.config import LOSSES, ConfigBase
from maml_strategy.errors import ConfigError, DataError, ModelError
from maml_strategy.learners.inner import StepLR, inner_loop, scope_names, sgd_adapt
from maml_strategy.model import HierarchicalTimeframeNet
from maml_strategy.learners.persistence import read_model_file, scaler_from_state, split_scaler_state, write_model_file

__all__ = ["Learner", "make_loss", "apply_num_threads", "resolve_device", "inner_loop", "sgd_adapt", "scope_names",
           "StepLR", "LOSSES"]  # inner_loop, sgd_adapt, scope_names, StepLR live in maml_strategy.learners.inner

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


def resolve_device(name: str) -> torch.device:
    """``torch.device(name)``, or :class:`ConfigError` for a bad name or CUDA that is not available.

    Example:
        >>> resolve_device("cpu")
        device(type='cpu')
    """
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(f"device={name!r} is not a torch device ({exc}); use 'cpu' or 'cuda'") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device={name!r} but CUDA is not available; use device='cpu'")
    return device


class Learner:
    """Base class: a network plus config, scaler and feature names with predict/adapt/save/load.

    Subclasses set ``kind`` (the file kind, see :mod:`maml_strategy.learners`)
    and ``config_class`` (a config dataclass with ``device``, ``loss``,
    ``huber_delta`` and ``num_threads`` fields) and implement
    ``_default_adapt_steps`` and ``_default_adapt_lrs``; ``_extra_tensors`` /
    ``_load_extra`` carry additional tensors through :meth:`save` / :meth:`load`.

    Args:
        model: the network.
        config: an instance of ``config_class`` (None = its defaults).
        scaler: fitted feature scaler stored with the model (inputs must already be scaled).
        feature_names: names of the feature columns, stored with the model.
    """

    kind: ClassVar[str] = ""
    config_class: ClassVar[type[ConfigBase]]

    def __init__(
        self,
        model: HierarchicalTimeframeNet,
        config: Any | None = None,
        *,
        scaler: Any | None = None,
        feature_names: Sequence[str] | None = None,
    ) -> None:
        config = self.config_class() if config is None else config
        if not isinstance(config, self.config_class):
            raise ConfigError(f"config must be a {self.config_class.__name__}, got {type(config).__name__}")
        if not isinstance(model, nn.Module):
            raise ConfigError(f"model must be a torch.nn.Module (HierarchicalTimeframeNet), got {type(model).__name__}")
        if feature_names is not None and not all(isinstance(n, str) for n in feature_names):
            raise ConfigError("feature_names must be a list of str")
        self.config = config
        self.device = resolve_device(config.device)
        self.model = model.to(self.device)
        self.scaler = scaler
        self.feature_names = list(feature_names) if feature_names is not None else None
        self.loss_fn = make_loss(config.loss, config.huber_delta)
        self.history: dict[str, Any] = {}
        apply_num_threads(config.num_threads)

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
            return self._bound(params)(xt)

    def _bound(self, params: dict[str, Tensor]) -> nn.Module:
        """One scratch copy of the network, loaded with ``params`` (kept for the last dict seen).

        The engine predicts every bar with the same adapted dict; a plain module call
        costs a fraction of ``functional_call``'s parameter swapping, with the same result.
        The scratch net is made once (a deepcopy per adaptation cost ~5 ms) and refilled
        with the stored buffers and the new parameters whenever the dict changes.
        """
        cached = getattr(self, "_bound_cache", None)
        if cached is not None and cached[0] is params:
            return cached[1]
        net = getattr(self, "_bound_net", None)
        ref = next(self.model.parameters())
        if net is None or next(net.parameters()).device != ref.device:
            net = self._bound_net = copy.deepcopy(self.model)
        with torch.no_grad():
            for name, p in net.named_parameters():
                p.copy_(params[name])
            for b, src in zip(net.buffers(), self.model.buffers()):
                b.copy_(src)
        net.eval()
        self._bound_cache = (params, net)
        return net

    def support_loss(self, x: Tensor | np.ndarray, y: Tensor | np.ndarray, params: dict[str, Tensor] | None = None) -> float:
        """Mean loss of the model (or of ``params``) on ``(x, y)``."""
        xt, yt = self._xy(x, y)
        return float(self.loss_fn(self.predict(xt, params), yt))

    def _default_adapt_steps(self) -> int:
        raise NotImplementedError

    def _default_adapt_lrs(self, steps: int) -> list[float | list[float]]:
        raise NotImplementedError

    def _adapt_scope(self) -> tuple[str, float]:
        """``(scope, proximal)`` of adaptation; the base class adapts every parameter, no proximal term."""
        return "all", 0.0

    def adapt_settings(self) -> tuple[list[str] | None, float]:
        """``(adapt_names, proximal)`` that :meth:`adapt` / :meth:`adapt_batch` pass to the inner loop.

        ``adapt_names`` is None when every parameter adapts (scope ``"all"``).

        Example:
            >>> from maml_strategy.learners.maml import MAML, MAMLConfig
            >>> from maml_strategy.model import HierarchicalTimeframeNet
            >>> MAML(HierarchicalTimeframeNet(2, 3, 1, 8), MAMLConfig(adapt_scope="bias")).adapt_settings()
            (['head_out.bias'], 0.0)
        """
        scope, proximal = self._adapt_scope()
        cached = getattr(self, "_settings_cache", None)
        if cached is None or cached[0] != (scope, proximal):
            names = None if scope == "all" else scope_names(self.model, scope)
            cached = ((scope, proximal), (names, float(proximal)))
            self._settings_cache = cached
        return cached[1]

    def adapt(
        self,
        support_x: Tensor | np.ndarray,
        support_y: Tensor | np.ndarray,
        steps: int | None = None,
        lr: float | None = None,
    ) -> dict[str, Tensor]:
        """SGD on the support set from the stored parameters; returns new parameters.

        The stored parameters are never modified. Pass the result to
        :meth:`predict` / :meth:`support_loss`. Only the parameters of the
        adaptation scope change (:meth:`adapt_settings`; the others are the
        stored tensors), with the proximal term when the config sets one.

        Args:
            support_x: ``[K, D]`` scaled features.
            support_y: ``[K]`` labels.
            steps: SGD steps (default from the config; 0 returns the stored parameters).
            lr: step size (default from the config / learned per-step rates).

        Returns:
            Parameter dict for ``torch.func.functional_call``.
        """
        xt, yt = self._xy(support_x, support_y)
        names, proximal = self.adapt_settings()
        return sgd_adapt(self.model, self.parameters_dict(), xt, yt, self._step_lrs(steps, lr), self.loss_fn,
                         adapt_names=names, proximal=proximal)

    def _step_lrs(self, steps: int | None, lr: float | None) -> list[Any]:
        steps = self._default_adapt_steps() if steps is None else steps
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
            raise ConfigError(f"adapt: steps must be an int >= 0, got {steps!r}")
        if lr is not None and (not isinstance(lr, (int, float)) or not np.isfinite(lr) or lr < 0):
            raise ConfigError(f"adapt: lr must be a finite float >= 0, got {lr!r}")
        return [float(lr)] * steps if lr is not None else self._default_adapt_lrs(steps)

    def adapt_batch(self, support_x: Tensor, support_y: Tensor, steps: int | None = None,
                    lr: float | None = None) -> dict[str, Tensor]:
        """:meth:`adapt` on ``N`` support sets at once (``torch.func.vmap`` of the same inner loop).

        Task ``n`` gets the parameters that ``adapt(support_x[n], support_y[n])`` returns
        (equal up to float rounding); the result holds them stacked, ``[N, ...]`` per tensor
        (parameters outside the adaptation scope as expanded views of the stored ones).

        Args:
            support_x: ``[N, K, D]`` scaled features.
            support_y: ``[N, K]`` labels.
            steps, lr: as for :meth:`adapt`.

        Example:
            >>> stacked = learner.adapt_batch(torch.randn(4, 32, 143), torch.randn(4, 32))  # doctest: +SKIP
            >>> task0 = {k: v[0] for k, v in stacked.items()}  # doctest: +SKIP
        """
        xt, yt = self._xy(support_x.reshape(-1, support_x.shape[-1]), support_y.reshape(-1))
        xt, yt = xt.reshape(support_x.shape), yt.reshape(support_y.shape)
        lrs, base = self._step_lrs(steps, lr), self.parameters_dict()
        names, proximal = self.adapt_settings()
        with torch.no_grad():
            return vmap(lambda sx, sy: inner_loop(self.model, base, sx, sy, self.loss_fn, lrs,
                                                  adapt_names=names, proximal=proximal))(xt, yt)

    def task_losses(self, x: Tensor, y: Tensor, stacked: dict[str, Tensor] | None = None) -> Tensor:
        """Loss per task, ``[N]``, of ``x [N, K, D]`` / ``y [N, K]`` with stored or stacked per-task parameters."""
        with torch.no_grad():
            if stacked is None:
                return vmap(lambda sx, sy: self.loss_fn(self.model(sx), sy))(x, y)
            return vmap(lambda p, sx, sy: self.loss_fn(functional_call(self.model, p, (sx,)), sy))(stacked, x, y)

    def task_params(self, stacked: dict[str, Tensor], n: int) -> dict[str, Tensor]:
        """Task ``n``'s parameters out of :meth:`adapt_batch`'s stacked dict."""
        return {k: v[n] for k, v in stacked.items()}

    # ------------------------------------------------------------ persistence
    def _extra_tensors(self) -> dict[str, Tensor]:
        """Additional tensors to save (``extra.<name>`` in the file)."""
        return {}

    def _load_extra(self, extra: dict[str, Tensor], path: str | os.PathLike[str]) -> None:
        """Restore what :meth:`_extra_tensors` saved; raise :class:`ModelError` when it is unusable."""

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
            "config": self.config.to_dict(),
            "model_class": type(self.model).__name__,
            "model_kwargs": dict(kwargs),
            "feature_names": self.feature_names,
            "scaler": scaler_plain,
            "history": _jsonable(self.history),
        }
        write_model_file(path, kind=self.kind, meta=meta, tensors=tensors)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Self:
        """Load a file written by :meth:`save` (verifies the SHA-256 digest).

        A model trained on a GPU loads on a CPU-only machine (device set to ``"cpu"``).

        Raises:
            ModelError: missing, truncated, tampered, other-kind or incompatible file.

        Example:
            >>> from maml_strategy.learners.maml import MAML
            >>> maml = MAML.load("models/maml_spy.pt")  # doctest: +SKIP
        """
        meta, model, scaler, extra = cls._read(path)
        try:
            cfg_dict = dict(meta["config"])
            if str(cfg_dict.get("device", "cpu")).startswith("cuda") and not torch.cuda.is_available():
                cfg_dict["device"] = "cpu"  # trained on a GPU, used on a CPU machine
            config = cls.config_class.from_dict(cfg_dict)
        except (ConfigError, KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"{str(path)!r}: stored {cls.config_class.__name__} is invalid here ({exc}); retrain the model") from exc
        obj = cls(model, config, scaler=scaler, feature_names=meta.get("feature_names"))
        obj._load_extra(extra, path)
        obj.history = meta.get("history") or {}
        obj.model.eval()
        return obj

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
