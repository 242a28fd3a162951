"""NYSE trading days, holidays and early closes, from the maintained ``exchange_calendars`` library.

:func:`session_bounds` gives a day's regular session (open, close) in New York
time, or None on a weekend or holiday; early closes (e.g. 13:00 the day after
Thanksgiving) come from the XNYS calendar. Dates outside the calendar's range
fall back to 09:30-16:00 on weekdays. ``exchange_calendars`` is part of the
``live`` extra and imported on first use.

Example:
    >>> from datetime import date, datetime, timezone
    >>> session_bounds(date(2020, 11, 27))[1].strftime("%H:%M")   # early close
    '13:00'
    >>> session_bounds(date(2024, 1, 1)) is None                  # New Year's Day
    True
    >>> is_market_open(datetime(2024, 7, 1, 14, 0, tzinfo=timezone.utc))   # 10:00 New York
    True
"""

from __future__ import annotations

import functools
from datetime import date, datetime, time, timezone
from typing import Any
from zoneinfo import ZoneInfo

from maml_strategy.errors import BrokerError

__all__ = ["NEW_YORK", "SESSION_OPEN", "SESSION_CLOSE", "to_new_york", "session_bounds", "is_market_open"]

NEW_YORK = ZoneInfo("America/New_York")
SESSION_OPEN = time(9, 30)  # regular open; also the fallback outside the calendar's range
SESSION_CLOSE = time(16, 0)  # regular close (early closes come from the calendar)
_CALENDAR_START = "1990-01-02"


def to_new_york(now: datetime) -> datetime:
    """Converts an aware datetime to New York time (naive input is taken as UTC)."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    return now.astimezone(NEW_YORK)


@functools.lru_cache(maxsize=1)
def _xnys() -> Any:
    try:
        import exchange_calendars as xcals
    except ImportError:
        raise BrokerError(
            "exchange_calendars is not installed; pip install 'maml-strategy[live]'",
            call="calendar", reason="missing dependency",
        ) from None
    return xcals.get_calendar("XNYS", start=_CALENDAR_START)


@functools.lru_cache(maxsize=4096)
def session_bounds(day: date) -> tuple[datetime, datetime] | None:
    """The regular session of ``day`` as aware New York ``(open, close)``, or None when closed.

    Args:
        day: a calendar date (New York).

    Returns:
        Open and close with early closes applied; None on weekends and NYSE holidays.
    """
    cal = _xnys()
    import pandas as pd

    ts = pd.Timestamp(day)
    if cal.first_session <= ts <= cal.last_session:
        if not cal.is_session(ts):
            return None
        return (cal.session_open(ts).to_pydatetime().astimezone(NEW_YORK),
                cal.session_close(ts).to_pydatetime().astimezone(NEW_YORK))
    if day.weekday() >= 5:
        return None
    return (datetime.combine(day, SESSION_OPEN, NEW_YORK), datetime.combine(day, SESSION_CLOSE, NEW_YORK))


def is_market_open(now: datetime) -> bool:
    """True inside the NYSE regular session (holidays and early closes included).

    Args:
        now: aware datetime (naive is taken as UTC).
    """
    ny = to_new_york(now)
    bounds = session_bounds(ny.date())
    return bounds is not None and bounds[0] <= ny < bounds[1]
