"""Load any saved learner: :func:`load_learner` dispatches on the kind recorded in the file.

This module sits above every learner implementation (``maml``, ``training``,
...), so none of them imports another. The dispatch table :data:`LEARNER_KINDS`
maps a file kind to ``"module:Class"``; the module is imported only when a
file of that kind is loaded. The class must provide ``load(path)``
(:class:`~maml_strategy.learner.Learner` subclasses inherit it). A new
learner kind adds one line to the table, or calls :func:`register_learner_kind`.

Example:
    >>> sorted(LEARNER_KINDS)
    ['gbdt', 'maml', 'static']
    >>> model = load_learner("models/spy.pt")  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from maml_strategy.errors import ConfigError, ModelError
from maml_strategy.persistence import peek_kind

__all__ = ["LEARNER_KINDS", "load_learner", "learner_class", "register_learner_kind"]

#: File kind -> ``"module:Class"`` of the learner that loads it.
LEARNER_KINDS: dict[str, str] = {
    "maml": "maml_strategy.maml:MAML",
    "static": "maml_strategy.training:StaticModel",
    "gbdt": "maml_strategy.gbdt:GBDTModel",  # optional extra [trees]
}


def register_learner_kind(kind: str, target: str) -> None:
    """Make :func:`load_learner` load files of ``kind`` with ``target`` (``"module:Class"``).

    Example:
        >>> register_learner_kind("maml", "maml_strategy.maml:MAML")
    """
    if not isinstance(kind, str) or not kind or not isinstance(target, str) or target.count(":") != 1:
        raise ConfigError(f"register_learner_kind needs a kind and a 'module:Class' target, got {kind!r}, {target!r}")
    LEARNER_KINDS[kind] = target


def learner_class(kind: str) -> Any:
    """The class registered for ``kind`` (its module imported now).

    Raises:
        ModelError: unknown kind, or its module/class cannot be imported.

    Example:
        >>> learner_class("static").__name__
        'StaticModel'
    """
    target = LEARNER_KINDS.get(kind)
    if target is None:
        raise ModelError(f"unknown model kind {kind!r} (known: {sorted(LEARNER_KINDS)}); retrain the model or upgrade maml_strategy")
    module_name, _, class_name = target.partition(":")
    try:
        return getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise ModelError(f"model kind {kind!r} needs {target}, which cannot be imported ({exc}); install its dependencies") from exc


def load_learner(path: str | os.PathLike[str]) -> Any:
    """Load a model file of any registered kind (MAML, static, ...).

    Raises:
        ModelError: missing, corrupt or tampered file, or an unknown kind.

    Example:
        >>> model = load_learner("models/spy.pt")  # doctest: +SKIP
        >>> model.predict(x_today)  # doctest: +SKIP
    """
    kind = peek_kind(path)
    if kind not in LEARNER_KINDS:
        raise ModelError(f"{str(path)!r} holds an unknown model kind {kind!r}; retrain the model")
    return learner_class(kind).load(path)
