"""Parsing robin_stocks market data into :class:`Quote` objects and OHLCV frames.

Example:
    >>> from datetime import datetime, timezone
    >>> q = parse_quote({"last_trade_price": "10.5", "bid_price": "", "ask_price": "10.6"},
    ...                 datetime(2024, 1, 2, tzinfo=timezone.utc))
    >>> q.bid, q.ask, q.last
    (10.5, 10.6, 10.5)
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Mapping

import pandas as pd

from maml_strategy.data import from_robinhood_historicals, validate_ohlcv
from maml_strategy.live.models import Quote

__all__ = ["norm_symbol", "float_or_nan", "parse_quote", "historicals_frame", "validate_frame"]


def norm_symbol(symbol: Any) -> str:
    """The ticker stripped and upper-cased.

    Raises:
        ValueError: ``symbol`` is not a non-empty string.
    """
    if not isinstance(symbol, str) or not symbol.strip():
        raise ValueError(f"symbol must be a non-empty string, got {symbol!r}")
    return symbol.strip().upper()


def float_or_nan(v: Any) -> float:
    """A float from a Robinhood number string; ``None`` or ``""`` give NaN."""
    if v is None or v == "":
        return float("nan")
    return float(v)


def parse_quote(item: Mapping[str, Any], now: datetime) -> Quote:
    """A :class:`Quote` from one ``get_quotes`` item.

    Bid and ask fall back to the last price when missing or non-positive.

    Args:
        item: one quote dict of robin_stocks ``get_quotes``.
        now: time used when the item has no ``updated_at``.

    Raises:
        ValueError: the last trade price is missing or not positive.
    """
    last = float_or_nan(item.get("last_trade_price"))
    if not math.isfinite(last) or last <= 0:
        raise ValueError(f"last_trade_price {item.get('last_trade_price')!r}")
    bid = float_or_nan(item.get("bid_price"))
    ask = float_or_nan(item.get("ask_price"))
    bid = bid if math.isfinite(bid) and bid > 0 else last
    ask = ask if math.isfinite(ask) and ask > 0 else last
    ts = item.get("updated_at")
    if ts:
        t = pd.Timestamp(ts)
        t = t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
        when = t.to_pydatetime()
    else:
        when = now
    return Quote(bid=bid, ask=ask, last=last, time=when, halted=bool(item.get("trading_halted", False)))


def historicals_frame(rows: list[dict], interval: str, source: str) -> pd.DataFrame:
    """A validated OHLCV frame from ``get_stock_historicals`` rows.

    One implementation for the whole library:
    :func:`maml_strategy.data.from_robinhood_historicals` (interpolated bars
    dropped; daily/weekly bars indexed by date, intraday by New York wall time).

    Raises:
        DataError: the bars are malformed.
    """
    return from_robinhood_historicals(rows, source.split(":", 1)[-1], interval=interval)


def validate_frame(df: pd.DataFrame, source: str) -> pd.DataFrame:
    """Validate an OHLCV frame (string prices allowed) with :func:`maml_strategy.data.validate_ohlcv`.

    Raises:
        DataError: the frame is malformed.
    """
    return validate_ohlcv(df, source=source, coerce_quietly=True)
