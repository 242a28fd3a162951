"""End-of-session summary of a paper/replay session: the strategy beside buy-and-hold on the same bars.

The session's return and maximum drawdown come from the broker value at each
traded bar (warm-up excluded), starting from the paper cash. Buy-and-hold is
all in at the first traded bar's open (the earliest fill a decision at the
warm-up's last close can get) and held to the last bar the session saw, with
no costs: the same bars, so a session a safety rail stopped early is compared
over its own span.

Example:
    >>> import pandas as pd
    >>> idx = pd.bdate_range("2021-01-04", periods=3)
    >>> bars = pd.DataFrame({"open": [100.0, 101, 99], "close": [101.0, 99, 103]}, index=idx)
    >>> s = session_summary(pd.Series([100_000.0, 100_500, 99_800], index=idx), bars, 100_000, 101_000)
    >>> print(format_session_summary(s, fills=2, adaptations=1))
    session 2021-01-04..2021-01-06 (3 bars, warm-up excluded): 2 fills, 1 adaptations
      strategy      return  +1.0 %  max drawdown  0.7 %
      buy-and-hold  return  +3.0 %  max drawdown  2.0 %  (all in at the first open, no costs)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from maml_strategy.backtest.metrics import max_drawdown
from maml_strategy.errors import DataError

__all__ = ["SessionSummary", "session_summary", "format_session_summary"]


@dataclass(frozen=True)
class SessionSummary:
    """Return and maximum drawdown (fractions; drawdown positive) of a session and of buy-and-hold."""

    first: pd.Timestamp
    last: pd.Timestamp
    bars: int
    total_return: float
    max_drawdown: float
    bh_return: float
    bh_max_drawdown: float


def session_summary(values: pd.Series, bars: pd.DataFrame, start_value: float, final_value: float) -> SessionSummary:
    """Summarise a session from its per-bar broker values and the bars it traded.

    Args:
        values: broker value at each traded bar (DatetimeIndex; warm-up bars left out).
        bars: the replayed/quoted daily bars (``open`` and ``close`` columns, DatetimeIndex).
        start_value: the cash before the first traded bar.
        final_value: the broker value when the session ended.

    Returns:
        A :class:`SessionSummary` over the bars from the first to the last traded date.

    Raises:
        DataError: no traded bar, or no bar of ``bars`` inside the traded dates.
    """
    if values.empty:
        raise DataError("the session traded no bar (it stopped during the warm-up): nothing to summarise")
    first, last = pd.Timestamp(values.index[0]).normalize(), pd.Timestamp(values.index[-1]).normalize()
    span = bars.loc[(bars.index >= first) & (bars.index <= last)]
    if span.empty:
        raise DataError(f"no bars between {first.date()} and {last.date()} for the buy-and-hold comparison")
    curve = np.concatenate([[start_value], values.to_numpy(dtype=np.float64), [final_value]])
    bh = np.concatenate([[span["open"].iloc[0]], span["close"].to_numpy(dtype=np.float64)])
    return SessionSummary(first, last, len(span), float(final_value / start_value - 1.0), max_drawdown(curve),
                          float(bh[-1] / bh[0] - 1.0), max_drawdown(bh))


def format_session_summary(s: SessionSummary, *, fills: int, adaptations: int, name: str = "strategy") -> str:
    """Three lines: the span with fills and adaptations, then return and drawdown of ``name`` and buy-and-hold."""
    width = max(len(name), len("buy-and-hold"))
    return "\n".join([
        f"session {s.first.date()}..{s.last.date()} ({s.bars} bars, warm-up excluded): {fills} fills, "
        f"{adaptations} adaptations",
        f"  {name:<{width}}  return {s.total_return * 100:+5.1f} %  max drawdown {s.max_drawdown * 100:4.1f} %",
        f"  {'buy-and-hold':<{width}}  return {s.bh_return * 100:+5.1f} %  max drawdown {s.bh_max_drawdown * 100:4.1f} %"
        "  (all in at the first open, no costs)",
    ])
