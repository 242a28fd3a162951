"""The learner registry: one :class:`LearnerSpec` per learner, and the two calls that use it.

:func:`fit_learner` trains a learner of a kind on a :class:`~maml_strategy.learners.protocol.TrainingData`
(the backtests' :func:`~maml_strategy.backtest.train.train_models` and the
few-shot study loop over :data:`LEARNERS`); :func:`load_learner` loads any model
file, dispatching on the kind recorded in it. Modules are imported only when a
learner of that kind is trained or loaded, so the registry sits above every
learner and none of them imports another. A new learner adds one spec, or calls
:func:`register_learner_kind`.

Example:
    >>> sorted(LEARNERS)
    ['gbdt', 'maml', 'static']
    >>> LEARNERS["gbdt"].file, LEARNERS["gbdt"].requires
    ('gbdt.model', 'lightgbm')
    >>> model = load_learner("models/spy.pt")  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from maml_strategy.errors import ConfigError, ModelError
from maml_strategy.learners.persistence import peek_kind

__all__ = ["LEARNERS", "LearnerSpec", "fit_learner", "learner_class", "load_learner",
           "register_learner_kind"]


@dataclass(frozen=True)
class LearnerSpec:
    """How to train, save and load one kind of learner.

    Example:
        >>> LEARNERS["static"].target
        'maml_strategy.learners.static:StaticModel'
    """

    kind: str  # the file kind recorded in its model files
    target: str  # "module:Class" with a load(path) classmethod
    fit: str = ""  # "module:function" with fit(data, cfg, seed, progress) -> learner ("" = load only)
    file: str = ""  # file name inside a model cache entry
    requires: str | None = None  # a module that must be importable (an optional extra), e.g. "lightgbm"
    extra: str | None = None  # the pip extra that installs it, e.g. "trees"

    def available(self) -> bool:
        """Whether the optional dependency (if any) is installed."""
        return self.requires is None or importlib.util.find_spec(self.requires) is not None

    def missing(self) -> str:
        """What is missing and how to install it (for an unavailable learner).

        Example:
            >>> LEARNERS["gbdt"].missing()
            'lightgbm is not installed (pip install -e ".[trees]")'
        """
        return f'{self.requires} is not installed (pip install -e ".[{self.extra}]")'


#: Every learner, in training order.
LEARNERS: dict[str, LearnerSpec] = {
    "maml": LearnerSpec("maml", "maml_strategy.learners.maml:MAML", "maml_strategy.learners.maml:fit", "maml.pt"),
    "static": LearnerSpec("static", "maml_strategy.learners.static:StaticModel", "maml_strategy.learners.static:fit",
                          "static.pt"),
    "gbdt": LearnerSpec("gbdt", "maml_strategy.learners.gbdt:GBDTModel", "maml_strategy.learners.gbdt:fit",
                        "gbdt.model", requires="lightgbm", extra="trees"),
}


def register_learner_kind(kind: str, target: str, fit: str = "", file: str = "") -> None:
    """Add (or replace) the learner of ``kind``: :func:`load_learner` loads its files with ``target``.

    Example:
        >>> register_learner_kind("maml", "maml_strategy.learners.maml:MAML", "maml_strategy.learners.maml:fit", "maml.pt")
    """
    if not isinstance(kind, str) or not kind or not isinstance(target, str) or target.count(":") != 1:
        raise ConfigError(f"register_learner_kind needs a kind and a 'module:Class' target, got {kind!r}, {target!r}")
    if fit and fit.count(":") != 1:
        raise ConfigError(f"register_learner_kind: fit must be 'module:function', got {fit!r}")
    LEARNERS[kind] = LearnerSpec(kind, target, fit, file or f"{kind}.pt")


def _import(target: str, kind: str) -> Any:
    module_name, _, name = target.partition(":")
    try:
        return getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError) as exc:
        raise ModelError(f"model kind {kind!r} needs {target}, which cannot be imported ({exc}); install its dependencies") from exc


def learner_class(kind: str) -> Any:
    """The class registered for ``kind`` (its module imported now).

    Raises:
        ModelError: unknown kind, or its module/class cannot be imported.

    Example:
        >>> learner_class("static").__name__
        'StaticModel'
    """
    spec = LEARNERS.get(kind)
    if spec is None:
        raise ModelError(f"unknown model kind {kind!r} (known: {sorted(LEARNERS)}); retrain the model or upgrade maml_strategy")
    return _import(spec.target, kind)


def fit_learner(kind: str, data: Any, cfg: Any, *, seed: int = 0, progress: bool = False,
                say: Callable[[str], None] | None = None) -> Any:
    """Train a learner of ``kind`` on ``data`` (a :class:`~maml_strategy.learners.protocol.TrainingData`).

    Args:
        kind: a key of :data:`LEARNERS`.
        data: the training window's arrays and task samplers.
        cfg: the :class:`~maml_strategy.config.StrategyConfig` (each learner reads its section).
        seed: the seed of initialisation, task sampling and minibatch order.
        progress: show tqdm bars.
        say: callback for one summary line (e.g. ``print``).

    Raises:
        ConfigError: unknown kind, a kind without a trainer, or a missing optional dependency.

    Example:
        >>> model = fit_learner("static", data, load_config(), seed=0)  # doctest: +SKIP
    """
    spec = LEARNERS.get(kind)
    if spec is None or not spec.fit:
        raise ConfigError(f"no trainer for learner kind {kind!r} (trainable: {sorted(k for k, s in LEARNERS.items() if s.fit)})")
    if not spec.available():
        raise ConfigError(f"learner {kind!r} cannot be trained: {spec.missing()}")
    model = _import(spec.fit, kind)(data, cfg, seed=seed, progress=progress)
    if say is not None:
        say(f"  {kind}: {_summary(model.history)}")
    return model


def _summary(h: dict[str, Any]) -> str:
    """One line of a training history (epochs and early stopping, or boosting rounds)."""
    if "epoch" not in h:
        return f"{h.get('best_iteration')} rounds (early stopping on validation MSE)"
    line = f"{len(h['epoch'])} epochs, best validation epoch {h['best_epoch']}"
    if h.get("best_val_loss") is not None:
        line += f" (loss {h['best_val_loss']:.4f})"
    return line + ("; stopped early" if h.get("stopped_early") else "")


def load_learner(path: str | os.PathLike[str]) -> Any:
    """Load a model file of any registered kind (MAML, static, ...).

    Raises:
        ModelError: missing, corrupt or tampered file, or an unknown kind.

    Example:
        >>> model = load_learner("models/spy.pt")  # doctest: +SKIP
        >>> model.predict(x_today)  # doctest: +SKIP
    """
    kind = peek_kind(path)
    if kind not in LEARNERS:
        raise ModelError(f"{str(path)!r} holds an unknown model kind {kind!r}; retrain the model")
    return learner_class(kind).load(path)
