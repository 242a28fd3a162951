"""Price basis: credit dividends by scaling OHLC with the ``adj_close / close`` factor.

Yahoo's ``Close`` is split-adjusted but not dividend-adjusted; ``Adj Close`` is
both. Scaling open/high/low/close by ``adj_close / close`` turns the bars into a
total-return series: a strategy that holds the asset earns its dividends, and
buy-and-hold is credited the same way. Volume is left as it is.

Example:
    >>> import pandas as pd
    >>> df = pd.DataFrame({"open": [10.0, 10.0], "high": [11.0, 11.0], "low": [9.0, 9.0],
    ...                    "close": [10.0, 10.0], "volume": [1.0, 1.0], "adj_close": [9.0, 10.0]},
    ...                   index=pd.to_datetime(["2020-01-02", "2020-01-03"]))
    >>> total_return_prices(df)["close"].tolist()
    [9.0, 10.0]
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from maml_strategy.data.validate import DataWarning
from maml_strategy.errors import DataError

__all__ = ["PRICE_BASES", "total_return_prices", "apply_price_basis", "FACTOR_JUMP"]

PRICE_BASES = ("none", "total")  # "none": prices as in the file; "total": dividends credited
FACTOR_JUMP = 0.20  # a one-day change of the adjustment factor above this is flagged (spin-off artefacts)


def total_return_prices(df: pd.DataFrame, label: str = "data") -> pd.DataFrame:
    """Scale ``open, high, low, close`` by ``adj_close / close`` (dividends credited).

    Args:
        df: a validated OHLCV frame with an ``adj_close`` column.
        label: name used in messages (symbol or file).

    Returns:
        A copy with scaled prices; ``adj_close`` and ``volume`` unchanged.

    Raises:
        DataError: no ``adj_close`` column, or non-positive / missing factors.

    Warns:
        DataWarning: the factor jumps by more than 20 % in one day (named by date),
            typically a spin-off artefact in the source's adjustment.
    """
    if "adj_close" not in df.columns:
        raise DataError(
            f"[{label}] has no 'Adj Close' column, so dividends cannot be credited; "
            "use a Yahoo-format file with 'Adj Close', or the close price basis (--price-basis close, adjust='none')"
        )
    factor = (df["adj_close"] / df["close"]).to_numpy(dtype=np.float64)
    bad = ~(np.isfinite(factor) & (factor > 0))
    if bad.any():
        dates = df.index[bad]
        raise DataError(
            f"[{label}] {int(bad.sum())} row(s) have a missing or non-positive 'Adj Close' "
            f"({dates[0].date()} .. {dates[-1].date()}); fix the file or use --price-basis close"
        )
    if len(factor) > 1:
        jump = np.abs(factor[1:] / factor[:-1] - 1.0)
        where = np.flatnonzero(jump > FACTOR_JUMP)
        if len(where):
            days = ", ".join(f"{df.index[i + 1].date()} ({jump[i] * 100:+.0f} %)" for i in where[:5])
            more = f" and {len(where) - 5} more" if len(where) > 5 else ""
            warnings.warn(
                f"[{label}] the dividend-adjustment factor Adj Close/Close jumps by more than "
                f"{FACTOR_JUMP * 100:.0f} % in one day on {days}{more}: probably a spin-off or special dividend in the "
                "source's adjustment; the total-return series credits it as a one-day return (check that day)",
                DataWarning, stacklevel=3,
            )
    out = df.copy()
    for col in ("open", "high", "low", "close"):
        out[col] = df[col].to_numpy(dtype=np.float64) * factor
    return out


def apply_price_basis(df: pd.DataFrame, adjust: str, label: str = "data") -> pd.DataFrame:
    """Return ``df`` on the requested price basis (``"none"`` or ``"total"``).

    Example:
        >>> apply_price_basis(pd.DataFrame(), "none").empty
        True
    """
    if adjust not in PRICE_BASES:
        raise DataError(f"unknown price basis adjust={adjust!r}; use 'none' (prices as in the file) or 'total' "
                        "(dividends credited via Adj Close)")
    return df if adjust == "none" else total_return_prices(df, label)
