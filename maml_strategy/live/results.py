"""Checking robin_stocks results: ``None``, ``[None]``, error dicts, missing keys.

robin_stocks reports most failures by returning ``None``, ``[None]`` or a
Robinhood error dict instead of raising. The checks here turn each of those
into a reason string (or None when the result is good) that
:class:`~maml_strategy.live.client.RobinhoodClient` raises as a
:class:`~maml_strategy.errors.BrokerError`.

Example:
    >>> check_dict("order", "id")({"detail": "Not found."})
    'Not found.'
    >>> check_list(None)([None])
    'no data (robin_stocks returned [None])'
"""

from __future__ import annotations

from typing import Any, Callable

__all__ = ["ERROR_KEYS", "error_text", "check_list", "check_dict"]

#: Keys under which Robinhood error replies carry their message, most specific first.
ERROR_KEYS = ("detail", "error", "non_field_errors", "errors", "error_description")


def error_text(result: Any, expected_key: str | None = None) -> str | None:
    """The error message of a Robinhood error dict, or None if ``result`` is not one."""
    if not isinstance(result, dict):
        return None
    if expected_key is not None and expected_key in result:
        return None
    for key in ERROR_KEYS:
        if key in result and result[key] not in (None, "", [], {}):
            value = result[key]
            if isinstance(value, (list, tuple)):
                value = "; ".join(str(v) for v in value)
            return str(value)
    return None


def check_list(empty_reason: str | None) -> Callable[[Any], str | None]:
    """Result check for list-returning calls; ``empty_reason`` None allows an empty list."""

    def check(result: Any) -> str | None:
        if result is None:
            return "no data (robin_stocks returned None)"
        if isinstance(result, dict):
            return error_text(result) or "unexpected dict response"
        if not isinstance(result, list):
            return f"unexpected response type {type(result).__name__}"
        if result == [None] or any(item is None for item in result):
            return "no data (robin_stocks returned [None])"
        if not result and empty_reason is not None:
            return empty_reason
        return None

    return check


def check_dict(what: str, required: str) -> Callable[[Any], str | None]:
    """Result check for dict-returning calls that must carry a non-empty ``required`` key.

    Args:
        what: what the dict is, for messages (``"account profile"``).
        required: key a good result has (an error dict has not).
    """
    def check(result: Any) -> str | None:
        if result is None:
            return f"no {what} (robin_stocks returned None)"
        if result == [None]:
            return f"no {what} (robin_stocks returned [None])"
        if not isinstance(result, dict):
            return f"unexpected {what} response type {type(result).__name__}"
        err = error_text(result, expected_key=required)
        if err:
            return err
        if not result.get(required):
            return f"{what} response has no {required!r}"
        return None

    return check
