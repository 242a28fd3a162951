"""ReplayClient: historical daily bars served as live quotes, for ``paper_trade.py --replay``.

* bars before ``start`` are served as history (backfill / warm-up),
* each replayed bar becomes four quotes inside that day's NYSE session (from
  :mod:`~maml_strategy.live.calendar`, early closes included): the open at the
  open, the two extremes (low first on an up day) at 11:00 and 13:30 on a full
  day, the close at the close; a feed polling them rebuilds the exact bar,
* :meth:`ReplayClient.get_historicals` never returns a bar that has not closed
  on the virtual clock (no look-ahead).

It serves market data only; paper orders are filled by
:class:`~maml_strategy.live.paper.PaperBroker`. ``speed`` paces the replay:
0 runs as fast as possible, N delivers N bars per second of real time.

Example:
    >>> import pandas as pd
    >>> idx = pd.bdate_range("2024-01-02", periods=3)
    >>> bars = pd.DataFrame({"open": [1.0, 2, 3], "high": [1.5, 2.5, 3.5], "low": [0.5, 1.5, 2.5],
    ...                      "close": [1.2, 2.2, 3.2], "volume": [10.0, 10, 10]}, index=idx)
    >>> client = ReplayClient(bars, symbol="SPY", start="2024-01-03")
    >>> len(client.get_historicals("SPY")), client.get_quote("SPY").last
    (1, 2.0)
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

import pandas as pd

from maml_strategy.data import read_csv_ohlcv
from maml_strategy.errors import BrokerError, DataError
from maml_strategy.live.calendar import NEW_YORK, SESSION_CLOSE, SESSION_OPEN, session_bounds
from maml_strategy.live.models import Quote

__all__ = ["ReplayClient", "EndOfReplay"]

# where the four quotes of a bar sit in its session (fractions of 09:30-16:00: 0, 11:00, 13:30, 1)
_TICK_FRACTIONS = (0.0, 90 / 390, 240 / 390, 1.0)
_SPAN_DAYS = {"day": 1, "week": 7, "month": 31, "3month": 92, "year": 366, "5year": 5 * 366}


class EndOfReplay(BrokerError):
    """Raised by :meth:`ReplayClient.get_quote` once every replay bar has been served."""


class ReplayClient:
    """Historical-replay market-data client (:class:`~maml_strategy.live.models.MarketDataClient`).

    Args:
        bars: daily OHLCV frame (DatetimeIndex).
        symbol: the one symbol this client serves.
        start: first replayed bar date; earlier bars are history (default: 5th bar).
        end: last replayed bar date (inclusive; default: last bar).
        speed: replayed bars per real second; 0 = as fast as possible.
        spread_bps: bid/ask spread around each replayed price, in basis points.
        sleep: sleep function (pacing); monotonic: real clock for pacing.
    """

    def __init__(
        self,
        bars: pd.DataFrame,
        *,
        symbol: str = "SPY",
        start: str | pd.Timestamp | None = None,
        end: str | pd.Timestamp | None = None,
        speed: float = 0.0,
        spread_bps: float = 0.0,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if speed < 0:
            raise ValueError(f"speed must be >= 0, got {speed}")
        frame = bars[["open", "high", "low", "close", "volume"]].astype("float64").sort_index()
        frame.index = pd.DatetimeIndex(frame.index).normalize()
        if frame.empty:
            raise DataError("ReplayClient needs at least one bar")
        self.symbol = symbol.upper()
        self._bars = frame
        start_ts = pd.Timestamp(start) if start is not None else frame.index[min(4, len(frame) - 1)]
        self._replay_end = pd.Timestamp(end) if end is not None else frame.index[-1]
        self._replay = frame[(frame.index >= start_ts) & (frame.index <= self._replay_end)]
        self.speed = float(speed)
        self.spread = float(spread_bps) / 1e4
        self._sleep = sleep
        self._monotonic = monotonic
        self._ticks = self._build_ticks()
        self._tick = -1  # index of the last served tick
        self._t0: float | None = None
        first_day = self._replay.index[0] if len(self._replay) else start_ts
        self._now = datetime.combine(first_day.date(), datetime.min.time().replace(hour=9), NEW_YORK).astimezone(
            timezone.utc
        )
        self.logged_in = False
        self.calls: list[str] = []

    @classmethod
    def from_csv(cls, path: str, *, symbol: str = "SPY", **kwargs: Any) -> "ReplayClient":
        """Builds a replay client from a Yahoo-style daily CSV.

        Example:
            >>> ReplayClient.from_csv("../shared/data/SPY.csv", start="2020-01-01")  # doctest: +SKIP
        """
        return cls(read_csv_ohlcv(path, source=f"{symbol}:{path}"), symbol=symbol, **kwargs)

    def _build_ticks(self) -> list[tuple[datetime, float, int]]:
        ticks: list[tuple[datetime, float, int]] = []
        for k, (day, row) in enumerate(self._replay.iterrows()):
            o, h, lo, c = row["open"], row["high"], row["low"], row["close"]
            path = (o, lo, h, c) if c >= o else (o, h, lo, c)
            bounds = session_bounds(day.date()) or (
                datetime.combine(day.date(), SESSION_OPEN, NEW_YORK),
                datetime.combine(day.date(), SESSION_CLOSE, NEW_YORK),
            )
            length = (bounds[1] - bounds[0]).total_seconds()
            for frac, price in zip(_TICK_FRACTIONS, path):
                t = bounds[0] + timedelta(seconds=round(frac * length))
                ticks.append((t.astimezone(timezone.utc), float(price), k))
        return ticks

    @property
    def replay_bars(self) -> pd.DataFrame:
        """The bars this client replays (a copy)."""
        return self._replay.copy()

    @property
    def exhausted(self) -> bool:
        """True once every replay quote has been served."""
        return self._tick >= len(self._ticks) - 1

    def now(self) -> datetime:
        """Virtual clock: the time of the last served quote (aware, UTC)."""
        return self._now

    def _pace(self, bar_number: int) -> None:
        if self.speed <= 0:
            return
        if self._t0 is None:
            self._t0 = self._monotonic()
            return
        wait = self._t0 + bar_number / self.speed - self._monotonic()
        if wait > 0:
            self._sleep(wait)

    def login(self) -> None:
        """No-op login."""
        self.logged_in = True

    def logout(self) -> None:
        """No-op logout."""
        self.logged_in = False

    def _check_symbol(self, call: str, symbol: str) -> str:
        sym = str(symbol).strip().upper()
        if sym != self.symbol:
            raise BrokerError(f"{type(self).__name__} serves {self.symbol} only, not {sym}",
                              call=call, reason="unknown symbol")
        return sym

    def get_quote(self, symbol: str) -> Quote:
        """Serves the next replay quote and advances the virtual clock.

        Raises:
            EndOfReplay: every quote has been served.
        """
        self.calls.append("get_quote")
        self._check_symbol("get_quote", symbol)
        if self.exhausted:
            raise EndOfReplay("replay finished", call="get_quote", reason="end of replay")
        self._tick += 1
        t, price, bar_number = self._ticks[self._tick]
        if self._tick % len(_TICK_FRACTIONS) == 0:
            self._pace(bar_number)
        self._now = t
        half = self.spread / 2.0
        quote = Quote(bid=price * (1 - half), ask=price * (1 + half), last=price, time=t)
        self._on_quote(quote)
        return quote

    def _on_quote(self, quote: Quote) -> None:
        """Hook for subclasses (test doubles that simulate a brokerage)."""

    def get_historicals(self, symbol: str, interval: str = "day", span: str = "5year") -> pd.DataFrame:
        """Daily bars that have closed on the virtual clock, limited to ``span``."""
        self.calls.append("get_historicals")
        self._check_symbol("get_historicals", symbol)
        if interval != "day":
            raise BrokerError(f"{type(self).__name__} replays daily bars only (asked for {interval!r})",
                              call="get_historicals", reason="unsupported interval")
        if span not in _SPAN_DAYS:
            raise BrokerError(f"invalid span {span!r}", call="get_historicals", reason="invalid span")
        ny = self._now.astimezone(NEW_YORK)
        today = pd.Timestamp(ny.date())
        closed_today = self._tick >= 0 and self._ticks[self._tick][0] == self._now and (
            self._tick % len(_TICK_FRACTIONS) == len(_TICK_FRACTIONS) - 1)
        cutoff = min(today if closed_today else today - pd.Timedelta(days=1), self._replay_end)
        visible = self._bars[self._bars.index <= cutoff]
        visible = visible[visible.index > cutoff - pd.Timedelta(days=_SPAN_DAYS[span])]
        if visible.empty:
            raise BrokerError("no historical bars", call="get_historicals", reason="no data")
        return visible.copy()

    def skip(self, n: int) -> None:
        """Serves ``n`` quotes without returning them."""
        for _ in range(n):
            self.get_quote(self.symbol)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.symbol}, {len(self._replay)} replay bars, tick {self._tick + 1}/{len(self._ticks)})"
