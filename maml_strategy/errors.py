"""Exception hierarchy of maml_strategy.

Every error raised on bad user input derives from :class:`MamlStrategyError`,
so callers can catch one type. Messages say what was wrong and how to fix it.

Example:
    >>> from maml_strategy.errors import DataError
    >>> try:
    ...     raise DataError("no rows; pass a wider date range")
    ... except MamlStrategyError as exc:
    ...     print(exc)
    no rows; pass a wider date range
"""

from __future__ import annotations

__all__ = ["MamlStrategyError", "DataError", "ConfigError", "ModelError", "BrokerError"]


class MamlStrategyError(Exception):
    """Base class of every error this library raises on purpose."""


class DataError(MamlStrategyError, ValueError):
    """Market data are missing, malformed or too short."""


class ConfigError(MamlStrategyError, ValueError):
    """A configuration file or value is invalid."""


class ModelError(MamlStrategyError):
    """A model file is missing, truncated, tampered with or incompatible."""


class BrokerError(MamlStrategyError):
    """The broker (Robinhood) refused a request or could not be reached.

    Attributes:
        call: name of the broker call that failed (e.g. ``"order_buy_market"``).
        reason: human-readable reason, never containing credentials.
    """

    def __init__(self, message: str, *, call: str = "", reason: str = "") -> None:
        super().__init__(message)
        self.call = call
        self.reason = reason
