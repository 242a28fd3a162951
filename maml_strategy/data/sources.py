"""Where OHLCV comes from: CSV files and the yfinance download cache.

``load_ohlcv(symbol)`` with ``source="auto"`` searches, in order: the explicit
``path``; ``$MAML_STRATEGY_DATA/<SYMBOL>.csv``; ``./data/<SYMBOL>.csv`` (the
download cache); ``../shared/data/<SYMBOL>.csv``; a yfinance download, cached
in ``./data/``. When every place fails it raises one :class:`DataError`
listing each place tried. Robinhood bars load through the live layer
(``maml_strategy.live.load_robinhood_ohlcv``); this module never imports it.
"""

from __future__ import annotations

import os
import warnings
from typing import Any
from pathlib import Path

import pandas as pd

from maml_strategy.data.adjust import PRICE_BASES, apply_price_basis
from maml_strategy.data.validate import DataWarning, describe_window, validate_ohlcv
from maml_strategy.errors import DataError

__all__ = [
    "load_ohlcv",
    "read_csv_ohlcv",
    "download_yfinance",
    "normalise_yfinance",
    "candidate_paths",
    "ENV_VAR",
    "SOURCES",
]

ENV_VAR = "MAML_STRATEGY_DATA"
SOURCES = ("auto", "csv", "yfinance")
_ROBINHOOD_MOVED = (
    "source='robinhood' is not a data-layer source: Robinhood bars load through the live layer, "
    "maml_strategy.live.load_robinhood_ohlcv(symbol, start, end) (needs pip install 'maml-strategy[live]' "
    "and ROBINHOOD_USERNAME/ROBINHOOD_PASSWORD/ROBINHOOD_MFA_SECRET)"
)
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
            (needs ``path`` or a file in the search path) or ``"yfinance"``. Robinhood
            bars: ``maml_strategy.live.load_robinhood_ohlcv``.
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
    if source == "robinhood":
        raise DataError(_ROBINHOOD_MOVED)
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
