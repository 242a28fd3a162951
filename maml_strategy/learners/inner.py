"""The inner loop of MAML: SGD on a support set, and which parameters it updates.

:func:`inner_loop` is the one differentiable SGD loop (``torch.func.grad`` +
``functional_call``): :class:`~maml_strategy.learners.maml.MAML` differentiates through
it under ``vmap`` in meta-training, and :meth:`Learner.adapt_batch
<maml_strategy.learners.base.Learner.adapt_batch>` runs it under ``vmap`` without a
graph. :func:`sgd_adapt` is the same arithmetic for one support set without a
graph, computed with plain autograd on a cached scratch copy of the network
(``torch.func``'s per-operator wrapping made a single call ~2x slower than a
naive ``deepcopy`` + ``torch.optim.SGD`` loop; see ``benchmarks/bench_maml.py``).
The two agree up to float rounding (torch.func's ``silu`` backward rounds
differently from the native kernel, ~1 ulp of the gradients).

Every step is ``p <- p - lr * grad(L)(p)`` for the parameters of the scope
(:func:`scope_names`), the others held fixed, with the inner loss

    ``L(p) = loss(f_p(x), y) + proximal / 2 * sum ||p - p_0||^2``

(``p_0``: the starting, i.e. meta-, parameters; ``proximal = 0`` drops the term:
an iMAML-style proximal regulariser, differentiated through the unrolled steps).

Example:
    >>> import torch
    >>> from maml_strategy.model import HierarchicalTimeframeNet
    >>> net = HierarchicalTimeframeNet(2, 3, 1, 8)
    >>> fn = torch.nn.functional.mse_loss
    >>> start = {n: p.detach() for n, p in net.named_parameters()}
    >>> p = sgd_adapt(net, start, torch.randn(16, 7), torch.randn(16), [0.1] * 3, fn,
    ...               adapt_names=scope_names(net, "head"))
    >>> [n for n in p if not torch.equal(p[n], start[n])]
    ['head_out.weight', 'head_out.bias']
"""

from __future__ import annotations

import copy
import weakref
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import functional_call, grad

from maml_strategy.errors import ConfigError

__all__ = ["ADAPT_SCOPE_PARAMS", "StepLR", "scope_names", "inner_loop", "sgd_adapt"]

#: One inner-loop step size: a float for every parameter tensor, or one rate per
#: parameter tensor (a sequence of floats or a 1-D tensor, in ``params`` order).
StepLR = float | Sequence[float] | Tensor

#: Parameters each restricted scope adapts, by name in
#: :class:`~maml_strategy.model.HierarchicalTimeframeNet` (its output layer
#: ``head_out = Linear(hidden_dim, 1)``): ``"head"`` = ANIL (Raghu et al. 2020):
#: only the output layer, weight and bias; ``"bias"`` = only the output bias, a
#: level recalibration of the predictions. ``"all"`` adapts every parameter.
ADAPT_SCOPE_PARAMS: dict[str, tuple[str, ...]] = {
    "head": ("head_out.weight", "head_out.bias"),
    "bias": ("head_out.bias",),
}


def scope_names(model: nn.Module, scope: str) -> list[str]:
    """Names of the parameters the inner loop updates for ``scope`` (``model.named_parameters()`` order).

    Raises:
        ConfigError: unknown scope, or a model without the scope's parameters.

    Example:
        >>> from maml_strategy.model import HierarchicalTimeframeNet
        >>> scope_names(HierarchicalTimeframeNet(2, 3, 1, 8), "bias")
        ['head_out.bias']
    """
    names = [n for n, _ in model.named_parameters()]
    if scope == "all":
        return names
    if scope not in ADAPT_SCOPE_PARAMS:
        raise ConfigError(f"adapt_scope must be one of {('all', *ADAPT_SCOPE_PARAMS)}, got {scope!r}")
    missing = [n for n in ADAPT_SCOPE_PARAMS[scope] if n not in names]
    if missing:
        raise ConfigError(f"adapt_scope={scope!r} needs the parameters {list(ADAPT_SCOPE_PARAMS[scope])} "
                          f"(HierarchicalTimeframeNet's output layer), but {type(model).__name__} lacks {missing}; "
                          "use adapt_scope='all'")
    return [n for n in names if n in ADAPT_SCOPE_PARAMS[scope]]


def _step_rates(lr: StepLR, names: Sequence[str], index: dict[str, int]) -> list[Any]:
    if isinstance(lr, (int, float)):
        return [lr] * len(names)
    return [lr[index[n]] for n in names]


def _split(params: dict[str, Tensor], adapt_names: Sequence[str] | None) -> list[str]:
    if adapt_names is None:
        return list(params)
    unknown = [n for n in adapt_names if n not in params]
    if unknown:
        raise ConfigError(f"adapt_names {unknown} are not in the parameters {list(params)[:5]}...")
    wanted = set(adapt_names)
    return [n for n in params if n in wanted]


def inner_loop(
    model: nn.Module,
    params: dict[str, Tensor],
    x: Tensor,
    y: Tensor,
    loss_fn: Any,
    lrs: Sequence[StepLR],
    *,
    first_order: bool = False,
    adapt_names: Sequence[str] | None = None,
    proximal: float = 0.0,
) -> dict[str, Tensor]:
    """SGD from ``params`` on ``(x, y)``, one step per entry of ``lrs``; returns new parameters.

    ``p <- p - lr * grad`` with gradients from ``torch.func.grad`` of the inner
    loss (module docstring) for the parameters in ``adapt_names`` (None = all);
    the others are returned as given. Differentiable (works under
    ``torch.func.vmap`` and lets the outer loss differentiate through the
    steps, second order); ``first_order=True`` detaches the inner gradients
    (FOMAML). ``params`` is not modified.

    Args:
        model: the network (only its structure is used).
        params: starting parameters, in ``model.named_parameters()`` order.
        x: ``[K, D]`` inputs; y: ``[K]`` targets.
        loss_fn: ``f(pred, target) -> scalar``.
        lrs: per step, a float or one rate per parameter tensor of ``params`` (see ``StepLR``).
        first_order: detach the inner gradients.
        adapt_names: parameters to update (:func:`scope_names`); None = every one.
        proximal: weight of ``proximal / 2 * ||p - p_0||^2`` in the inner loss (0 = none).

    Example:
        >>> net = torch.nn.Linear(3, 1)
        >>> fn = lambda p, t: torch.nn.functional.mse_loss(p.squeeze(-1), t)
        >>> p = inner_loop(net, dict(net.named_parameters()), torch.randn(8, 3), torch.randn(8), fn, [0.1, 0.1])
        >>> sorted(p)
        ['bias', 'weight']
    """
    names = list(params)
    train = _split(params, adapt_names)
    index = {n: i for i, n in enumerate(names)}
    start = {n: params[n] for n in train}
    frozen = {n: params[n] for n in names if n not in start}

    def inner_loss(p: dict[str, Tensor]) -> Tensor:
        loss = loss_fn(functional_call(model, {**frozen, **p} if frozen else p, (x,)), y)
        if proximal:
            loss = loss + 0.5 * proximal * sum(((p[n] - start[n]) ** 2).sum() for n in train)
        return loss

    grad_fn = grad(inner_loss)
    cur = start
    for lr in lrs:
        grads = grad_fn(cur)
        if first_order:
            grads = {n: g.detach() for n, g in grads.items()}
        rates = _step_rates(lr, train, index)
        cur = {n: cur[n] - r * grads[n] for n, r in zip(train, rates)}
    return {n: cur[n] if n in cur else params[n] for n in names}


# model -> (scratch copy, its parameters by name); the copy holds the running parameters of sgd_adapt
_SCRATCH: weakref.WeakKeyDictionary[nn.Module, tuple[nn.Module, dict[str, nn.Parameter]]] = weakref.WeakKeyDictionary()


def _scratch(model: nn.Module, like: Tensor) -> tuple[nn.Module, dict[str, nn.Parameter]] | None:
    cached = _SCRATCH.get(model)
    if cached is not None:
        first = next(iter(cached[1].values()), None)
        if first is not None and first.dtype == like.dtype and first.device == like.device:
            return cached
    try:
        clone = copy.deepcopy(model).to(device=like.device, dtype=like.dtype)
    except Exception:  # noqa: BLE001 - a module that cannot be copied takes the torch.func path
        return None
    ps = dict(clone.named_parameters())
    for p in ps.values():
        p.requires_grad_(True)
    _SCRATCH[model] = (clone, ps)
    return clone, ps


def sgd_adapt(
    model: nn.Module,
    params: dict[str, Tensor],
    x: Tensor,
    y: Tensor,
    lrs: Sequence[StepLR],
    loss_fn: Any,
    *,
    adapt_names: Sequence[str] | None = None,
    proximal: float = 0.0,
) -> dict[str, Tensor]:
    """:func:`inner_loop` for one support set without a graph; returns new, detached tensors.

    Same update and inner loss, computed with ``torch.autograd.grad`` on a
    cached scratch copy of ``model`` (one per model, reused; not thread-safe)
    whose parameters are overwritten in place: no ``torch.func`` wrapping,
    no per-step dicts, gradients only for ``adapt_names``. Parameters outside
    ``adapt_names`` are returned as given (same tensors). Models whose
    parameters do not match ``params`` fall back to :func:`inner_loop`.

    Example:
        >>> net = torch.nn.Linear(3, 1)
        >>> fn = lambda p, t: torch.nn.functional.mse_loss(p.squeeze(-1), t)
        >>> p = sgd_adapt(net, dict(net.named_parameters()), torch.randn(8, 3), torch.randn(8), [0.1], fn)
        >>> p["weight"].requires_grad
        False
    """
    start = {n: p.detach() for n, p in params.items()}
    train = _split(start, adapt_names)
    if not lrs or not train:
        return start
    held = _scratch(model, start[train[0]])
    if held is None or list(held[1]) != list(start):
        with torch.no_grad():
            out = inner_loop(model, start, x, y, loss_fn, lrs, adapt_names=adapt_names, proximal=proximal)
        return {n: v.detach() for n, v in out.items()}
    clone, ps = held
    index = {n: i for i, n in enumerate(start)}
    live = [ps[n] for n in train]
    with torch.no_grad():
        torch._foreach_copy_(list(ps.values()), list(start.values()))
    for lr in lrs:
        with torch.enable_grad():
            loss = loss_fn(clone(x), y)
            if proximal:
                loss = loss + 0.5 * proximal * sum(((p - start[n]) ** 2).sum() for n, p in zip(train, live))
            grads = torch.autograd.grad(loss, live)
        with torch.no_grad():  # p - r * g, the inner_loop update, in place
            if isinstance(lr, (int, float)):
                torch._foreach_sub_(live, torch._foreach_mul(grads, lr))
            else:
                for p, g, r in zip(live, grads, _step_rates(lr, train, index)):
                    p.sub_(r * g)
    out = dict(start)
    out.update({n: p.detach().clone() for n, p in zip(train, live)})
    return out
