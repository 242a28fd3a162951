"""Bars of a higher timeframe and which of them each daily row may see (the one aggregation routine).

Weekly bars aggregate W-FRI weeks (Saturday..Friday) and monthly bars calendar
months: open = first open, high = max, low = min, close = last close,
volume = sum. The first period of a frame is discarded (it may be partial:
the frame may start mid-week / mid-month), and a period's bar becomes visible
from the first daily row of the *following* period, so a row never sees its
own, still open, period.

Example:
    >>> import numpy as np
    >>> dates = np.arange("2024-01-01", "2024-01-20", dtype="datetime64[D]")
    >>> arr = np.ones((len(dates), 5))
    >>> days = dates.astype(np.int64); months = dates.astype("datetime64[M]").astype(np.int64)
    >>> bars, seen = period_bars(arr, days, months, "W")
    >>> len(bars[0]), int(seen[-1])  # weeks after the first: 2 (one complete, one open); row 18 sees bar 0
    (2, 0)
"""

from __future__ import annotations

import numpy as np

__all__ = ["MAX_ROWS_PER_PERIOD", "period_bars"]

#: Upper bound of daily rows per period, used to size the bounded window
#: (US equity calendars: <= 5 sessions a week, <= 23 a month).
MAX_ROWS_PER_PERIOD: dict[str, int] = {"D": 1, "W": 5, "M": 23}


def _period_keys(days: np.ndarray, months: np.ndarray, tf: str) -> np.ndarray:
    """Integer period id per row: W-FRI weeks (Sat..Fri) or calendar months."""
    if tf == "W":
        return (days - 2) // 7  # 1970-01-03 (day 2) was a Saturday
    return months


def _aggregate(arr: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, ...]:
    """OHLCV bars of the groups starting at ``starts`` (arr columns: o, h, l, c, v)."""
    ends = np.empty_like(starts)
    ends[:-1] = starts[1:] - 1
    ends[-1] = arr.shape[0] - 1
    return (
        arr[starts, 0],
        np.maximum.reduceat(arr[:, 1], starts),
        np.minimum.reduceat(arr[:, 2], starts),
        arr[ends, 3],
        np.add.reduceat(arr[:, 4], starts),
    )


def period_bars(
    arr: np.ndarray, days: np.ndarray, months: np.ndarray, tf: str
) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """Bars of timeframe ``tf`` and, for every row, the index of the last bar that row may see.

    Args:
        arr: ``[n, 5]`` daily open, high, low, close, volume.
        days: ``[n]`` day numbers (days since 1970-01-01); months: ``[n]`` month numbers.
        tf: ``"D"``, ``"W"`` or ``"M"``.

    Returns:
        ``(bars, seen)``: ``bars`` is five ``[nb]`` arrays (o, h, l, c, v) of the
        periods after the first (the last one may still be open); ``seen[i]`` is
        the index into ``bars`` of the newest period complete before row ``i``
        (negative when none). For ``"D"`` the bars are the rows and ``seen[i] = i``.
    """
    n = arr.shape[0]
    if tf == "D":
        return tuple(arr[:, j] for j in range(5)), np.arange(n)
    keys = _period_keys(days, months, tf)
    new = keys[1:] != keys[:-1]
    starts = np.concatenate(([0], np.flatnonzero(new) + 1))
    group = np.cumsum(np.r_[0, new.astype(np.int64)])
    bars = tuple(b[1:] for b in _aggregate(arr, starts))  # drop the first (maybe partial) period
    return bars, group - 2  # the previous period, indexed after the drop
