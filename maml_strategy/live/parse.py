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

from maml_strategy.errors import DataError
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

    Interpolated bars are dropped; daily/weekly bars are indexed by date,
    intraday bars by New York wall time (tz-naive).

    Raises:
        DataError: the bars are malformed (see :func:`validate_frame`).
        KeyError: a row lacks a price/volume column.
    """
    df = pd.DataFrame(rows)
    if "interpolated" in df.columns:
        df = df[~df["interpolated"].fillna(False).astype(bool)]
    ts = pd.to_datetime(df["begins_at"], utc=True)
    if interval in ("day", "week"):
        index = pd.DatetimeIndex(ts.dt.tz_localize(None).dt.normalize())
    else:
        index = pd.DatetimeIndex(ts.dt.tz_convert("America/New_York").dt.tz_localize(None))
    out = pd.DataFrame(
        {
            "open": df["open_price"].to_numpy(),
            "high": df["high_price"].to_numpy(),
            "low": df["low_price"].to_numpy(),
            "close": df["close_price"].to_numpy(),
            "volume": df["volume"].to_numpy(),
        },
        index=index,
    )
    out.index.name = "date"
    return validate_frame(out, source=source)


def validate_frame(df: pd.DataFrame, source: str) -> pd.DataFrame:
    """Converts string prices to float64 and validates the OHLCV frame.

    Delegates to ``maml_strategy.data.validate_ohlcv`` when available; falls
    back to a local check (numeric, no NaN, positive prices, sorted unique index).

    Raises:
        DataError: the frame is malformed.
    """
    cols = ["open", "high", "low", "close", "volume"]
    out = df.copy()
    for c in cols:
        out[c] = pd.to_numeric(out[c], errors="coerce").astype("float64")
    try:
        from maml_strategy.data import validate_ohlcv  # type: ignore[attr-defined]
    except ImportError:
        validate_ohlcv = None
    if validate_ohlcv is not None:
        return validate_ohlcv(out, source=source, coerce_quietly=True)
    if out.empty:
        raise DataError(f"{source}: no rows")
    bad = out[cols].isna().any(axis=1)
    if bad.any():
        raise DataError(f"{source}: {int(bad.sum())} row(s) with missing/non-numeric values, first {out.index[bad][0]}")
    if (out[["open", "high", "low", "close"]] <= 0).any().any():
        raise DataError(f"{source}: non-positive prices")
    out = out[~out.index.duplicated(keep="last")].sort_index()
    return out
