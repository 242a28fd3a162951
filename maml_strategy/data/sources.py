"""Where OHLCV comes from: CSV files, the yfinance download cache, Robinhood.

``load_ohlcv(symbol)`` with ``source="auto"`` searches, in order: the explicit
``path``; ``$MAML_STRATEGY_DATA/<SYMBOL>.csv``; ``./data/<SYMBOL>.csv`` (the
download cache); ``../shared/data/<SYMBOL>.csv``; a yfinance download, cached
in ``./data/``. When every place fails it raises one :class:`DataError`
listing each place tried.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from maml_strategy.data.adjust import PRICE_BASES, apply_price_basis
from maml_strategy.data.validate import DataWarning, describe_window, validate_ohlcv
from maml_strategy.errors import DataError

__all__ = [
    "load_ohlcv",
    "read_csv_ohlcv",
    "download_yfinance",
    "normalise_yfinance",
    "from_robinhood_historicals",
    "candidate_paths",
    "ENV_VAR",
    "SOURCES",
]

ENV_VAR = "MAML_STRATEGY_DATA"
SOURCES = ("auto", "csv", "yfinance", "robinhood")
_REPO_ROOT = Path(__file__).resolve().parents[2]


def _cache_dir() -> Path:
    return Path.cwd() / "data"


def candidate_paths(symbol: str, path: str | os.PathLike | None = None) -> list[tuple[str, Path]]:
    """The CSV files ``source="auto"`` tries, in order, as ``(label, path)`` pairs.

    Example:
        >>> [label for label, _ in candidate_paths("SPY")][:2]
        ['$MAML_STRATEGY_DATA', './data cache']
    """
    fname = f"{symbol.upper()}.csv"
    out: list[tuple[str, Path]] = []
    if path is not None:
        out.append(("path argument", Path(path)))
    env = os.environ.get(ENV_VAR)
    out.append((f"${ENV_VAR}", Path(env) / fname if env else Path(f"${ENV_VAR} (unset)")))
    out.append(("./data cache", _cache_dir() / fname))
    shared = [base / sub / fname for base in (Path.cwd().parent / "shared" / "data", _REPO_ROOT.parent / "shared" / "data")
              for sub in (".", "universe")]
    seen: set[Path] = set()
    for p in shared:
        rp = p.resolve()
        if rp not in seen:
            seen.add(rp)
            out.append(("../shared/data", p))
    return out


def read_csv_ohlcv(
    path: str | os.PathLike,
    *,
    source: str | None = None,
    start: str | None = None,
    end: str | None = None,
) -> pd.DataFrame:
    """Read a Yahoo-format or lower-case OHLCV CSV and validate it.

    Args:
        path: CSV with ``Date,Open,High,Low,Close[,Adj Close],Volume`` or
            ``date,open,high,low,close,volume`` columns.
        source: label used in messages (defaults to the path).
        start: first date to validate and keep (rows outside are not checked).
        end: last date to validate and keep.

    Returns:
        A validated frame (see :func:`validate_ohlcv`).

    Example:
        >>> df = read_csv_ohlcv("../shared/data/SPY.csv")  # doctest: +SKIP
    """
    p = Path(path)
    label = source or str(p)
    if not p.is_file():
        raise DataError(f"[{label}] file not found: {p}")
    try:
        raw = pd.read_csv(p, dtype=str, keep_default_na=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"[{label}] could not parse the CSV ({exc}); expected Yahoo-format daily bars.") from exc
    return validate_ohlcv(raw, source=label, coerce_quietly=True, start=start, end=end)


def normalise_yfinance(raw: pd.DataFrame, symbol: str) -> pd.DataFrame:
    """Flatten yfinance's output (MultiIndex columns ``(field, ticker)``) to Yahoo CSV columns.

    Args:
        raw: frame returned by ``yfinance.download(..., auto_adjust=False)``.
        symbol: the ticker requested.

    Returns:
        A frame with ``Open, High, Low, Close, Adj Close, Volume`` columns and a ``Date`` index.
    """
    df = raw.copy()
    if isinstance(df.columns, pd.MultiIndex):
        fields = {"Open", "High", "Low", "Close", "Adj Close", "Volume"}
        lvl = next((i for i in range(df.columns.nlevels) if fields & set(df.columns.get_level_values(i))), None)
        if lvl is None:
            raise DataError(f"[yfinance:{symbol}] unexpected columns {list(df.columns)[:6]}")
        if df.columns.nlevels > 1:
            other = [i for i in range(df.columns.nlevels) if i != lvl]
            tickers = set(df.columns.get_level_values(other[0]))
            if len(tickers) > 1:
                sel = symbol.upper() if symbol.upper() in tickers else sorted(tickers)[0]
                df = df.xs(sel, axis=1, level=other[0])
            else:
                df.columns = df.columns.get_level_values(lvl)
    df.index.name = "Date"
    return df


def download_yfinance(symbol: str, start: str | None = None, end: str | None = None) -> pd.DataFrame:
    """Download daily bars with yfinance (unadjusted OHLC + ``Adj Close``) and validate them.

    yfinance auto-adjusts prices by default; this passes ``auto_adjust=False`` so
    Open/High/Low/Close stay as traded, like the Yahoo CSVs.
    """
    try:
        import yfinance as yf
    except ImportError as exc:  # pragma: no cover - yfinance is a hard dependency
        raise DataError("yfinance is not installed; pip install yfinance") from exc
    try:
        with warnings.catch_warnings():
            # yfinance's own pandas deprecations (it re-enables them on import): not actionable by a user
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", FutureWarning)
            raw = yf.download(symbol, start=start, end=end, auto_adjust=False, progress=False, actions=False,
                              threads=False)
    except Exception as exc:  # network errors come in many types
        raise DataError(f"[yfinance:{symbol}] download failed: {exc}") from exc
    if raw is None or len(raw) == 0:
        raise DataError(f"[yfinance:{symbol}] returned no rows (no network, or an unknown symbol)")
    return validate_ohlcv(normalise_yfinance(raw, symbol), source=f"yfinance:{symbol}")


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


def _load_robinhood(symbol: str) -> pd.DataFrame:
    try:
        from maml_strategy.live.client import RobinhoodClient
    except ImportError as exc:
        raise DataError("the robinhood source needs the live extra: pip install 'maml-strategy[live]'") from exc
    client = RobinhoodClient.from_env()
    client.login()
    return client.get_historicals(symbol, interval="day", span="5year")


def _slice(df: pd.DataFrame, start: str | None, end: str | None, label: str, min_rows: int) -> pd.DataFrame:
    lo = pd.Timestamp(start) if start is not None else None
    hi = pd.Timestamp(end) if end is not None else None
    if lo is not None and hi is not None and lo > hi:
        raise DataError(f"start {lo.date()} is after end {hi.date()}; swap them.")
    out = df.loc[lo:hi]
    if out.empty:
        raise DataError(
            f"[{label}] no rows {describe_window(start, end)}; the data cover "
            f"{df.index[0].date()} .. {df.index[-1].date()}."
        )
    if lo is not None and out.index[0] - lo > pd.Timedelta(days=7):
        warnings.warn(
            f"[{label}] requested start {lo.date()} but data begin {out.index[0].date()}", DataWarning, stacklevel=3
        )
    if hi is not None and hi - out.index[-1] > pd.Timedelta(days=7):
        warnings.warn(
            f"[{label}] requested end {hi.date()} but data stop {out.index[-1].date()}", DataWarning, stacklevel=3
        )
    if len(out) < min_rows:
        raise DataError(
            f"[{label}] {len(out)} rows {describe_window(start, end)}, but {min_rows} are needed; "
            "widen the date range."
        )
    return out.copy()


def load_ohlcv(
    symbol: str,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
    *,
    source: str = "auto",
    path: str | os.PathLike | None = None,
    min_rows: int = 1,
    adjust: str = "none",
) -> pd.DataFrame:
    """Load validated daily OHLCV bars for ``symbol``, finding the data without flags.

    Args:
        symbol: ticker, e.g. ``"SPY"``; files are looked up as ``<SYMBOL>.csv``.
        start: first date to keep (inclusive), or None for all history.
        end: last date to keep (inclusive), or None.
        source: ``"auto"`` (search order in the module docstring), ``"csv"``
            (needs ``path`` or a file in the search path), ``"yfinance"`` or ``"robinhood"``.
        path: explicit CSV path; tried first.
        min_rows: raise if fewer rows remain after slicing.
        adjust: price basis: ``"none"`` (prices as in the source) or ``"total"``
            (open/high/low/close scaled by ``adj_close / close``, so dividends are credited).

    Returns:
        A frame with a tz-naive ascending unique ``DatetimeIndex`` and float64
        columns ``open, high, low, close, volume`` (+ ``adj_close`` when present).

    Raises:
        DataError: bad data, or no source worked (the message lists every place tried).

    Example:
        >>> df = load_ohlcv("SPY", "2008-01-01", "2008-12-31")  # doctest: +SKIP
        >>> len(df)  # doctest: +SKIP
        253
    """
    if not isinstance(symbol, str) or not symbol.strip():
        raise DataError(f"symbol must be a non-empty string like 'SPY', got {symbol!r}")
    if source not in SOURCES:
        raise DataError(f"unknown source {source!r}; use one of {', '.join(SOURCES)}")
    symbol = symbol.strip()
    if adjust not in PRICE_BASES:
        apply_price_basis(pd.DataFrame(), adjust)  # raises the DataError naming the choices
    df, label = _load_raw(symbol, start, end, source, path, min_rows)
    return apply_price_basis(df, adjust, label)


def _load_raw(
    symbol: str, start: Any, end: Any, source: str, path: str | os.PathLike | None, min_rows: int
) -> tuple[pd.DataFrame, str]:
    start_s = None if start is None else str(pd.Timestamp(start).date())
    end_s = None if end is None else str(pd.Timestamp(end).date())

    if source == "yfinance":
        return _slice(_yfinance_cached(symbol, start_s, end_s), start_s, end_s, f"yfinance:{symbol}", min_rows), symbol
    if source == "robinhood":
        return _slice(_load_robinhood(symbol), start_s, end_s, f"robinhood:{symbol}", min_rows), symbol

    tried: list[str] = []
    for label, p in candidate_paths(symbol, path):
        if source == "csv" and path is not None and label != "path argument":
            break
        if p.is_file():
            return _slice(read_csv_ohlcv(p, start=start_s, end=end_s), start_s, end_s, str(p), min_rows), str(p)
        tried.append(f"{label}: {p} (not found)")
        if label == "path argument":
            raise DataError(f"CSV not found: {p}; check the path.")
    if source == "auto":
        try:
            return _slice(_yfinance_cached(symbol, start_s, end_s), start_s, end_s, f"yfinance:{symbol}", min_rows), symbol
        except DataError as exc:
            tried.append(f"yfinance download: {exc}")
    raise DataError(
        f"no data found for {symbol!r}. Tried:\n  - " + "\n  - ".join(tried) + "\n"
        f"Fix: pass path='/path/to/{symbol.upper()}.csv' (--data PATH on the command line; Yahoo format), "
        f"set ${ENV_VAR} to a folder "
        f"holding {symbol.upper()}.csv, put the file in ./data/, or connect to the internet for yfinance."
    )


def _yfinance_cached(symbol: str, start: str | None, end: str | None) -> pd.DataFrame:
    df = download_yfinance(symbol, start, None if end is None else str((pd.Timestamp(end) + pd.Timedelta(days=1)).date()))
    cache = _cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    out = df.rename(columns={"open": "Open", "high": "High", "low": "Low", "close": "Close",
                             "adj_close": "Adj Close", "volume": "Volume"})
    out.index.name = "Date"
    tmp = cache / f".{symbol.upper()}.csv.tmp"
    out.to_csv(tmp)
    os.replace(tmp, cache / f"{symbol.upper()}.csv")
    return df
