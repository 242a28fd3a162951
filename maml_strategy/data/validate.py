"""One validation function for OHLCV frames from every source.

Every loader (CSV, yfinance, Robinhood, user frames) funnels its raw frame
through :func:`validate_ohlcv`. Each problem is either repaired with a
:class:`DataWarning` that says what changed and how many rows, or raises
:class:`~maml_strategy.errors.DataError` saying how to fix it.

Example:
    >>> import pandas as pd
    >>> raw = pd.DataFrame({"Date": ["2020-01-02"], "Open": ["1"], "High": ["2"],
    ...                     "Low": ["0.5"], "Close": ["1.5"], "Volume": ["10"]})
    >>> validate_ohlcv(raw, source="example", coerce_quietly=True).dtypes["close"]
    dtype('float64')
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from maml_strategy.errors import DataError

__all__ = [
    "DataWarning", "validate_ohlcv", "normalise_columns", "require_frame", "describe_window", "PRICE_COLUMNS", "OHLCV_COLUMNS",
]

PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close")
OHLCV_COLUMNS: tuple[str, ...] = (*PRICE_COLUMNS, "volume")
_OPTIONAL = ("adj_close",)
_DATE_NAMES = ("date", "datetime", "timestamp", "time", "begins_at")



def describe_window(start: object | None, end: object | None) -> str:
    """Words for a date filter with optional ends, for messages.

    Example:
        >>> describe_window(None, "1991-12-31")
        'up to 1991-12-31'
        >>> describe_window("2008-01-01", None), describe_window(None, None)
        ('from 2008-01-01 on', 'in the data')
    """
    d = lambda t: str(pd.Timestamp(t).date())  # noqa: E731
    if start is not None and end is not None:
        return f"between {d(start)} and {d(end)}"
    if end is not None:
        return f"up to {d(end)}"
    if start is not None:
        return f"from {d(start)} on"
    return "in the data"

class DataWarning(UserWarning):
    """A data problem was repaired; the message says what changed and how many rows."""


def _warn(msg: str, source: str) -> None:
    warnings.warn(f"[{source}] {msg}", DataWarning, stacklevel=3)


def normalise_columns(df: pd.DataFrame) -> pd.DataFrame:
    """Return a copy with lower-case snake_case column names (``Adj Close`` -> ``adj_close``).

    Args:
        df: any frame.

    Returns:
        A new frame; the input is not modified.

    Example:
        >>> list(normalise_columns(pd.DataFrame(columns=["Adj Close", "Open"])).columns)
        ['adj_close', 'open']
    """
    out = df.copy()
    out.columns = [str(c).strip().lower().replace(" ", "_").replace("-", "_") for c in out.columns]
    aliases = {"adjclose": "adj_close", "open_price": "open", "close_price": "close",
               "high_price": "high", "low_price": "low"}
    out = out.rename(columns={k: v for k, v in aliases.items() if k in out.columns and v not in out.columns})
    return out


def require_frame(df: object, columns: tuple[str, ...], who: str) -> None:
    """Raise ``DataError`` unless ``df`` is a non-empty DataFrame with the lowercase ``columns``.

    The boundary check shared by the feature extractor and the regime detector.

    Example:
        >>> require_frame(pd.DataFrame({"close": [1.0]}), ("close",), "features")
    """
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"expected a pandas DataFrame of OHLCV bars, got {type(df).__name__}")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(
            f"frame lacks column(s) {missing}; {who} needs lowercase {list(columns)} "
            "(load data with maml_strategy.data.load_ohlcv or rename the columns)"
        )
    if len(df) == 0:
        raise DataError("frame has no rows; pass a non-empty date range")


def _to_datetime_index(df: pd.DataFrame, source: str) -> pd.DataFrame:
    if not isinstance(df.index, pd.DatetimeIndex):
        date_col = next((c for c in _DATE_NAMES if c in df.columns), None)
        if date_col is None:
            if isinstance(df.index, pd.RangeIndex):
                raise DataError(
                    f"[{source}] no date column found (looked for {', '.join(_DATE_NAMES)}) and the index "
                    "is not a DatetimeIndex; add a 'Date' column or set a DatetimeIndex with df.set_index(...)."
                )
            raw_index = pd.Series(df.index, index=df.index)
        else:
            raw_index = df[date_col]
            df = df.drop(columns=[date_col])
        parsed = pd.to_datetime(raw_index, errors="coerce", utc=False, format="mixed")
        bad = int(parsed.isna().sum())
        if bad:
            examples = ", ".join(map(repr, list(raw_index[parsed.isna()].astype(str)[:3])))
            raise DataError(
                f"[{source}] {bad} date value(s) could not be parsed (e.g. {examples}); "
                "fix or remove those rows; dates must look like 2020-01-31."
            )
        df = df.set_index(pd.DatetimeIndex(parsed.to_numpy()))
    if df.index.tz is not None:
        _warn(f"converted a timezone-aware index ({df.index.tz}) to tz-naive dates for {len(df)} rows", source)
        df.index = df.index.tz_convert("UTC").tz_localize(None)
    df.index = df.index.normalize() if (df.index == df.index.normalize()).all() else df.index
    df.index.name = "date"
    return df


def validate_ohlcv(
    raw: pd.DataFrame,
    *,
    source: str = "data",
    min_rows: int = 1,
    coerce_quietly: bool = False,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Validate and normalise an OHLCV frame; repair with a warning or raise ``DataError``.

    Checks, in order: missing columns; text values coerced to numbers (values that
    are not numbers become NaN); dates parsed, tz-naive; unsorted dates (sorted,
    warned); duplicate dates (identical duplicates dropped and warned, conflicting
    ones raise); rows with NaN prices (dropped, warned); NaN volume (set to 0,
    warned); non-positive prices or negative volume (raise); ``high < low`` (raise);
    open/close outside [low, high] (high/low widened, warned); fewer than
    ``min_rows`` rows (raise).

    Args:
        raw: frame with a date column or DatetimeIndex and open/high/low/close/volume
            columns in any case (Yahoo ``Adj Close`` is kept as ``adj_close``).
        source: where the data came from; prefixed to every message.
        min_rows: the least number of rows the caller needs.
        coerce_quietly: do not warn when text columns parse cleanly as numbers
            (set by sources whose API always sends strings, e.g. Robinhood).
        start: drop rows before this date before the value checks, so bad rows
            outside the requested range do not fail a load (inclusive).
        end: drop rows after this date before the value checks (inclusive).

    Returns:
        A new frame: ascending unique tz-naive ``DatetimeIndex`` named ``date``,
        float64 columns ``open, high, low, close, volume`` (+ ``adj_close``).

    Raises:
        DataError: the data cannot be repaired safely; the message says how to fix it.
    """
    if not isinstance(raw, pd.DataFrame):
        raise DataError(f"[{source}] expected a pandas DataFrame, got {type(raw).__name__}.")
    df = normalise_columns(raw)
    missing = [c for c in OHLCV_COLUMNS if c not in df.columns]
    if missing:
        raise DataError(
            f"[{source}] missing column(s) {missing}; found {list(raw.columns)}. Provide "
            "Date,Open,High,Low,Close,Volume (Yahoo format) or date,open,high,low,close,volume."
        )
    if df.empty:
        raise DataError(f"[{source}] no rows; check the file or the start/end dates.")
    df = _to_datetime_index(df, source)
    keep = [c for c in (*OHLCV_COLUMNS, *_OPTIONAL) if c in df.columns]
    df = df[keep].copy()

    for col in keep:
        if df[col].dtype == object or pd.api.types.is_string_dtype(df[col]):
            as_text = df[col].astype("string").str.strip().str.replace(",", "", regex=False)
            numeric = pd.to_numeric(as_text, errors="coerce")
            n_bad = int((numeric.isna() & as_text.notna() & (as_text != "")).sum())
            if n_bad:
                _warn(f"column '{col}': {n_bad} value(s) were not numbers and became NaN", source)
            elif not coerce_quietly:
                _warn(f"column '{col}' held text; converted {len(df)} values to float64", source)
            df[col] = numeric.astype("float64")
        else:
            df[col] = pd.to_numeric(df[col], errors="coerce").astype("float64")

    if not df.index.is_monotonic_increasing:
        n_out = int((np.diff(df.index.asi8) < 0).sum())
        _warn(f"dates were not ascending ({n_out} out-of-order step(s)); sorted {len(df)} rows by date", source)
        df = df.sort_index(kind="stable")

    if start is not None or end is not None:
        df = df.loc[pd.Timestamp(start) if start is not None else None : pd.Timestamp(end) if end is not None else None]
        if df.empty:
            raise DataError(f"[{source}] no rows {describe_window(start, end)}; widen the date range.")

    dup = df.index.duplicated(keep="first")
    if dup.any():
        dup_dates = df.index[dup].unique()
        conflicting = [d for d in dup_dates if len(df.loc[[d], list(PRICE_COLUMNS)].drop_duplicates()) > 1]
        if conflicting:
            raise DataError(
                f"[{source}] {len(conflicting)} date(s) appear more than once with different prices "
                f"(first: {conflicting[0].date()}); keep one row per date before loading."
            )
        _warn(f"dropped {int(dup.sum())} duplicate row(s) with identical prices (first: {dup_dates[0].date()})", source)
        df = df[~dup]

    nan_rows = df[list(PRICE_COLUMNS)].isna().any(axis=1)
    if nan_rows.any():
        first = df.index[nan_rows][0].date()
        _warn(f"dropped {int(nan_rows.sum())} row(s) with missing prices (first: {first})", source)
        df = df[~nan_rows].copy()
    nan_vol = df["volume"].isna()
    if nan_vol.any():
        _warn(f"set missing volume to 0 on {int(nan_vol.sum())} row(s)", source)
        df.loc[nan_vol, "volume"] = 0.0
    if "adj_close" in df.columns and df["adj_close"].isna().any():
        n = int(df["adj_close"].isna().sum())
        _warn(f"dropped column 'adj_close': {n} missing value(s)", source)
        df = df.drop(columns=["adj_close"])

    prices = df[list(PRICE_COLUMNS)]
    nonpos = (prices <= 0).any(axis=1)
    if nonpos.any():
        idx = df.index[nonpos]
        raise DataError(
            f"[{source}] {int(nonpos.sum())} row(s) have zero or negative prices "
            f"({idx[0].date()} .. {idx[-1].date()}); these are not real prices (e.g. ^GSPC before "
            f"1982-04-20 has Open/High/Low = 0). Load a later start date (after {idx[-1].date()}) "
            "or supply clean data."
        )
    if (df["volume"] < 0).any():
        raise DataError(f"[{source}] {int((df['volume'] < 0).sum())} row(s) have negative volume; fix the source data.")
    inverted = df["high"] < df["low"]
    if inverted.any():
        raise DataError(
            f"[{source}] {int(inverted.sum())} row(s) have high < low (first: {df.index[inverted][0].date()}); "
            "the columns may be swapped or corrupt; fix the source data."
        )
    lo = df[["open", "close"]].min(axis=1)
    hi = df[["open", "close"]].max(axis=1)
    outside = (lo < df["low"]) | (hi > df["high"])
    if outside.any():
        _warn(
            f"widened high/low on {int(outside.sum())} row(s) where open/close lay outside [low, high] "
            f"(first: {df.index[outside][0].date()})",
            source,
        )
        df["low"] = np.minimum(df["low"].to_numpy(), lo.to_numpy())
        df["high"] = np.maximum(df["high"].to_numpy(), hi.to_numpy())

    if len(df) < min_rows:
        raise DataError(
            f"[{source}] {len(df)} valid row(s), but {min_rows} are needed; load a longer history "
            "(earlier start date) or reduce the warm-up/window settings."
        )
    return df
