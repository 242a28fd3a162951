"""The one place where configuration values are type-checked.

Every config dataclass of the project derives from :class:`ConfigBase`: on
construction its ``__post_init__`` checks (and normalises: ``int`` -> ``float``,
list -> tuple, numpy scalars -> Python numbers) every field against its type
annotation with :func:`coerce`, then calls the class's own ``_validate`` for
range checks. :func:`config_from_dict` builds a dataclass from a mapping
(e.g. a YAML section), rejecting unknown keys with a "did you mean" hint;
:func:`config_to_dict` is its inverse. No torch here: loading a config file
must stay cheap.

Example:
    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class Demo(ConfigBase):
    ...     rate: float = 0.5  # a fraction
    ...     def _validate(self) -> None:
    ...         require(0 <= self.rate <= 1, f"rate must be in [0, 1], got {self.rate}")
    >>> Demo(rate=1).rate
    1.0
    >>> config_from_dict(Demo, {"rat": 0.1})
    Traceback (most recent call last):
    ...
    maml_strategy.errors.ConfigError: unknown config key 'rat'. Did you mean 'rate'?
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import numbers
import types
import typing
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

from maml_strategy.errors import ConfigError

__all__ = ["ConfigBase", "coerce", "check_field_types", "config_from_dict", "config_to_dict", "require"]

T = TypeVar("T")


def require(cond: bool, msg: str) -> None:
    """Raise :class:`ConfigError` with ``msg`` unless ``cond`` (for range checks in ``_validate``)."""
    if not cond:
        raise ConfigError(msg)


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _got(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


def coerce(value: Any, tp: Any, where: str) -> Any:
    """``value`` checked against type annotation ``tp`` (normalised), or :class:`ConfigError` naming ``where``.

    Handles ``bool``, ``int``, ``float`` (finite; ints accepted), ``str``,
    ``X | None``, ``Literal[...]``, ``tuple[X, ...]``, ``list[X]``, ``dict``,
    nested config dataclasses (instances or mappings) and ``Any``.

    Example:
        >>> coerce(3, float, "lr"), coerce(["D"], tuple[str, ...], "tfs")
        (3.0, ('D',))
    """
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        for a in args:
            if a is type(None):
                continue
            try:
                return coerce(value, a, where)
            except ConfigError:
                pass
        raise ConfigError(f"{where}: expected {_type_name(tp)}, got {_got(value)}")
    if origin is Literal:
        if value not in get_args(tp):
            hint = difflib.get_close_matches(str(value), [str(a) for a in get_args(tp)], n=1)
            extra = f"; did you mean {hint[0]!r}?" if hint else ""
            raise ConfigError(f"{where}: must be one of {list(get_args(tp))}, got {value!r}{extra}")
        return value
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping of {tp.__name__} fields, got {type(value).__name__}")
        return config_from_dict(tp, value, where)
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        args = get_args(tp)
        item_tp = args[0] if args else Any
        items = [coerce(v, item_tp, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
        return dict(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true/false, got {_got(value)}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise ConfigError(f"{where}: expected an integer, got {_got(value)}")
        return value if type(value) is int else int(value)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ConfigError(f"{where}: expected a number, got {_got(value)}")
        if not math.isfinite(value):
            raise ConfigError(f"{where}: expected a finite number, got {value!r}")
        return value if type(value) is float else float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {_got(value)}")
        return value
    if isinstance(tp, type):
        if isinstance(value, tp):
            return value
        raise ConfigError(f"{where}: expected {tp.__name__}, got {value!r}")
    return value


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def check_field_types(obj: Any) -> None:
    """Check and normalise every field of dataclass instance ``obj`` with :func:`coerce` (frozen ones too)."""
    cls = type(obj)
    hints = _hints(cls)
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        new = coerce(value, hints[f.name], f"{cls.__name__}.{f.name}")
        if new is not value:
            object.__setattr__(obj, f.name, new)


class ConfigBase:
    """Mixin of the config dataclasses: field types checked on construction, then ``_validate``.

    Subclasses are ``@dataclass``es and override ``_validate`` with their range
    checks only (types are already right when it runs).
    """

    def __post_init__(self) -> None:
        check_field_types(self)
        self._validate()

    def _validate(self) -> None:
        """Range checks of the subclass (raise :class:`ConfigError`); none by default."""

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON/YAML-serialisable; tuples become lists)."""
        return config_to_dict(self)

    @classmethod
    def from_dict(cls: type[T], data: dict[str, Any]) -> T:
        """Build from a mapping; unknown keys and wrong types raise :class:`ConfigError`."""
        return config_from_dict(cls, data)


def config_from_dict(cls: type[T], data: dict[str, Any], where: str = "") -> T:
    """Build dataclass ``cls`` from ``data``, strictly.

    Args:
        cls: a dataclass type.
        data: mapping of field names to values (nested dataclasses as mappings).
        where: dotted prefix for messages.

    Raises:
        ConfigError: unknown key (with a "did you mean" hint), wrong type (naming
            the field), or a value the dataclass rejects.

    Example:
        >>> from maml_strategy.config import TradingConfig
        >>> config_from_dict(TradingConfig, {"max_exposure": 0.5}).max_exposure
        0.5
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{where or cls.__name__}: expected a mapping, got {type(data).__name__}")
    hints = _hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{where}.{key}" if where else str(key)
        if key not in names:
            hint = difflib.get_close_matches(str(key), names, n=1, cutoff=0.6)
            extra = f" Did you mean {hint[0]!r}?" if hint else f" Known keys: {', '.join(names)}."
            raise ConfigError(f"unknown config key {path!r}.{extra}")
        kwargs[key] = coerce(value, hints[key], path)
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        raise ConfigError(f"{where + ': ' if where else ''}{exc}") from exc
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where or cls.__name__}: {exc}") from exc


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """Plain-dict (YAML/JSON-ready) form of a config dataclass; tuples become lists.

    Example:
        >>> from maml_strategy.config import FeatureConfig
        >>> config_to_dict(FeatureConfig())["timeframes"]
        ['D', 'W', 'M']
    """

    def conv(v: Any) -> Any:
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            return {f.name: conv(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, (list, tuple)):
            return [conv(x) for x in v]
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        return v

    return conv(cfg)
