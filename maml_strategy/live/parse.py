"""Parsing robin_stocks market data into :class:`Quote` objects and OHLCV frames.

Robinhood bars are checked by the library's one OHLCV validator,
:func:`maml_strategy.data.validate.validate_ohlcv` (the data layer never imports
this package).

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
from typing import Any, Iterable, Mapping

import pandas as pd

from maml_strategy.data.validate import validate_ohlcv
from maml_strategy.errors import DataError
from maml_strategy.live.models import Quote

__all__ = ["norm_symbol", "float_or_nan", "parse_quote", "from_robinhood_historicals"]


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


def from_robinhood_historicals(
    records: Iterable[Mapping[str, Any]] | None, symbol: str, *, interval: str = "day"
) -> pd.DataFrame:
    """Convert robin_stocks ``get_stock_historicals`` records (prices as strings) to a validated frame.

    Interpolated bars (``"interpolated": true``, Robinhood's filler for missing
    data) are dropped. Daily/weekly bars are indexed by date; intraday bars by
    New York wall time (tz-naive).

    Args:
        records: list of dicts with ``begins_at, open_price, high_price, low_price,
            close_price, volume``.
        symbol: ticker, for messages.
        interval: the ``interval`` the records were requested with.

    Raises:
        DataError: no records, missing fields or bad values (see :func:`validate_ohlcv`).

    Example:
        >>> rec = [{"begins_at": "2020-01-02T00:00:00Z", "open_price": "1.0", "high_price": "2.0",
        ...         "low_price": "0.5", "close_price": "1.5", "volume": 10}]
        >>> float(from_robinhood_historicals(rec, "SPY")["close"].iloc[0])
        1.5
    """
    source = f"robinhood:{symbol}"
    if records is None:
        raise DataError(f"[{source}] no historicals returned (None); check the symbol and login")
    rows = [r for r in records if r is not None]
    if not rows:
        raise DataError(f"[{source}] no historicals returned; check the symbol, span and login")
    raw = pd.DataFrame(rows)
    fields = ["begins_at", "open_price", "high_price", "low_price", "close_price", "volume"]
    missing = [c for c in fields if c not in raw.columns]
    if missing:
        raise DataError(f"[{source}] historicals lack field(s) {missing}; robin_stocks' response format changed?")
    if "interpolated" in raw.columns:
        raw = raw[~raw["interpolated"].fillna(False).astype(bool)]
    ts = pd.to_datetime(raw["begins_at"], utc=True, errors="coerce")
    if ts.isna().any():
        raise DataError(f"[{source}] {int(ts.isna().sum())} record(s) have an unparseable begins_at")
    if interval in ("day", "week"):
        index = pd.DatetimeIndex(ts.dt.tz_localize(None).dt.normalize())
    else:
        index = pd.DatetimeIndex(ts.dt.tz_convert("America/New_York").dt.tz_localize(None))
    frame = pd.DataFrame(
        {"open": raw["open_price"].to_numpy(), "high": raw["high_price"].to_numpy(),
         "low": raw["low_price"].to_numpy(), "close": raw["close_price"].to_numpy(),
         "volume": raw["volume"].to_numpy()},
        index=index,
    )
    frame.index.name = "date"
    return validate_ohlcv(frame, source=source, coerce_quietly=True)
