"""Live backtrader data feed polling Robinhood quotes.

:class:`RobinhoodData` first backfills history with ``client.get_historicals``
(status ``DELAYED``), then polls ``client.get_quote`` every ``poll_interval``
seconds (status ``LIVE``) and builds bars from the quotes seen inside the
regular session. A daily bar is emitted once the session has closed; when
``official_bars`` is on, its OHLCV is replaced by Robinhood's official daily
bar (which carries the volume). Poll failures report ``CONNBROKEN`` and are
retried; :meth:`RobinhoodData.request_stop` (or the end of a replay) reports
``DISCONNECTED`` and ends the run.

``_load`` never blocks: it returns ``None`` (after a short sleep) while no bar
is ready, so cerebro keeps calling the broker (paper fills happen on quotes
between bars).

Example:
    >>> store = RobinhoodStore(ReplayClient.from_csv("../shared/data/SPY.csv", start="2020-01-02"))  # doctest: +SKIP
    >>> data = store.getdata("SPY")                                        # doctest: +SKIP
    >>> cerebro = bt.Cerebro(); cerebro.adddata(data)                      # doctest: +SKIP
"""

from __future__ import annotations

import collections
import logging
import math
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import backtrader as bt
import pandas as pd

from maml_strategy.errors import BrokerError
from maml_strategy.live.calendar import NEW_YORK, SESSION_CLOSE, SESSION_OPEN, session_bounds
from maml_strategy.live.fills import Tick
from maml_strategy.live.models import Quote
from maml_strategy.live.replay import EndOfReplay

__all__ = ["RobinhoodData"]

logger = logging.getLogger(__name__)


@dataclass
class _Bar:
    start: datetime  # New York, aware
    end: datetime  # New York, aware (bar closes when the clock reaches it)
    key: Any
    open: float
    high: float
    low: float
    close: float
    volume: float = 0.0

    def update(self, price: float) -> None:
        self.high = max(self.high, price)
        self.low = min(self.low, price)
        self.close = price


class RobinhoodData(bt.feed.DataBase):
    """Backfilling, quote-polling live feed (``dataname`` is the symbol); build it with
    :meth:`RobinhoodStore.getdata <maml_strategy.live.store.RobinhoodStore.getdata>`.

    Params:
        store: the :class:`~maml_strategy.live.store.RobinhoodStore` (client, clock, tick board).
        poll_interval: seconds between quote polls (0 = every call, for replay).
        backfill: load history first.
        hist_interval / hist_span: backfill request.
        bar_minutes: 0 for daily bars, else intraday bar size in minutes.
        official_bars: replace a finished daily bar by Robinhood's official one.
        max_failures: consecutive failed polls before the feed gives up (0 = never).
        idle_sleep: seconds slept by ``_load`` when nothing is ready.
        check_session: only build bars from quotes inside the NYSE session (off in replay).
    """

    params = (
        ("store", None),
        ("poll_interval", 60.0),
        ("backfill", True),
        ("hist_interval", "day"),
        ("hist_span", "5year"),
        ("bar_minutes", 0),
        ("official_bars", True),
        ("max_failures", 0),
        ("idle_sleep", 0.05),
        ("check_session", True),
    )

    _ST_INIT, _ST_BACKFILL, _ST_LIVE, _ST_STOPPED = range(4)

    def __init__(self) -> None:
        super().__init__()
        if self.p.store is None:
            raise ValueError("RobinhoodData needs store=<RobinhoodStore>; build it with store.getdata(symbol)")
        self.store = self.p.store
        self.client = self.store.client
        if self.p.bar_minutes:
            self._timeframe = bt.TimeFrame.Minutes
            self._compression = int(self.p.bar_minutes)
        self._reset_state()

    def _reset_state(self) -> None:
        self._state = self._ST_INIT
        self._backlog: collections.deque[tuple[datetime, float, float, float, float, float]] = collections.deque()
        self._ready: collections.deque[tuple[datetime, float, float, float, float, float]] = collections.deque()
        self._bar: _Bar | None = None
        self._last_dt: datetime | None = None
        self._last_poll: float | None = None
        self._quote_seq = 0
        self._failures = 0
        self._ended = False
        self._stop_reason: str | None = None
        self.delivering_backfill = True  # the bar just delivered is history (warm-up)
        self.bars_backfilled = 0
        self.bars_live = 0

    # --------------------------------------------------------------- public
    @property
    def symbol(self) -> str:
        """The symbol polled (``dataname`` upper-cased)."""
        return str(self.p.dataname).upper()

    def islive(self) -> bool:
        """Always True: cerebro runs event-driven, without preloading."""
        return True

    def request_stop(self, reason: str) -> None:
        """Ends the feed at the next ``_load`` (reports DISCONNECTED)."""
        if self._stop_reason is None:
            logger.warning("%s feed stopping: %s", self.symbol, reason)
            self._stop_reason = reason

    @property
    def stop_reason(self) -> str | None:
        """Why the feed was stopped, if it was."""
        return self._stop_reason

    def now(self) -> datetime:
        """The store's clock (aware)."""
        return self.store.now()

    # ------------------------------------------------------------ backtrader
    def setenvironment(self, env: Any) -> None:
        """Adds the store to cerebro (so strategies get its ``notify_store`` messages)."""
        super().setenvironment(env)
        env.addstore(self.store)

    def start(self) -> None:
        super().start()
        self.store.start(data=self)
        self._reset_state()

    def stop(self) -> None:
        super().stop()
        self._state = self._ST_STOPPED

    def _load(self) -> bool | None:
        if self._state == self._ST_STOPPED:
            return False
        if self._stop_reason is not None and not self._ready:
            return self._finish()
        if self._backlog:
            return self._emit(self._backlog.popleft(), backfill=True)
        if self._state == self._ST_INIT:
            self._state = self._ST_BACKFILL
            if self.p.backfill:
                self.put_notification(self.DELAYED)
                if not self._do_backfill():
                    self._state = self._ST_INIT
                    self._idle()
                    return None
                if self._backlog:
                    return self._emit(self._backlog.popleft(), backfill=True)
        if self._state == self._ST_BACKFILL:
            self._state = self._ST_LIVE
            self.put_notification(self.LIVE)
        if self._ready:
            return self._emit(self._ready.popleft(), backfill=False)
        if self._ended:
            return self._finish()
        polled = self._maybe_poll()
        if self._ready:
            return self._emit(self._ready.popleft(), backfill=False)
        if self._ended or self._stop_reason is not None:
            return self._finish()
        if not polled:
            self._idle()
        return None

    # -------------------------------------------------------------- private
    def _finish(self) -> bool:
        self.put_notification(self.DISCONNECTED)
        self._state = self._ST_STOPPED
        return False

    def _idle(self) -> None:
        wait = float(self.p.idle_sleep)
        if self._last_poll is not None and self.p.poll_interval > 0:
            remaining = self._last_poll + float(self.p.poll_interval) - time.monotonic()
            wait = min(wait, max(remaining, 0.0))
        if wait > 0:
            time.sleep(wait)

    def _do_backfill(self) -> bool:
        try:
            df = self.client.get_historicals(self.symbol, interval=self.p.hist_interval, span=self.p.hist_span)
        except BrokerError as exc:
            self._poll_failed(exc)
            return False
        now_ny = self.now().astimezone(NEW_YORK)
        daily = not self.p.bar_minutes
        for ts, row in df.iterrows():
            ts = pd.Timestamp(ts)
            if daily:
                bounds = session_bounds(ts.date())
                close = bounds[1] if bounds else datetime.combine(ts.date(), SESSION_CLOSE, NEW_YORK)
                if ts.date() > now_ny.date() or (ts.date() == now_ny.date() and now_ny < close):
                    continue  # today's bar is still forming; it will be built live
                dt = datetime(ts.year, ts.month, ts.day)
            else:
                dt = ts.to_pydatetime().replace(tzinfo=None)
                end = dt.replace(tzinfo=NEW_YORK) + timedelta(minutes=int(self.p.bar_minutes))
                if end > now_ny:
                    continue
            vals = [float(row[c]) for c in ("open", "high", "low", "close", "volume")]
            self._backlog.append((dt, *vals))  # type: ignore[arg-type]
        self._failures = 0
        logger.info("%s: backfilled %d bars", self.symbol, len(self._backlog))
        return True

    def _poll_failed(self, exc: BrokerError) -> None:
        self._failures += 1
        logger.warning("%s: quote/backfill failed (%d in a row): %s", self.symbol, self._failures, exc.reason or exc)
        self.put_notification(self.CONNBROKEN)
        if self.p.max_failures and self._failures >= int(self.p.max_failures):
            self.store.request_stop(f"{self.symbol} feed: {self._failures} consecutive failures; "
                                    f"last: {exc.reason or exc}")

    def _maybe_poll(self) -> bool:
        mono = time.monotonic()
        if self._last_poll is not None and mono - self._last_poll < float(self.p.poll_interval):
            self._check_bar_end(self.now())
            return False
        self._last_poll = mono
        try:
            quote = self.client.get_quote(self.symbol)
        except EndOfReplay:
            if self._bar is not None:
                self._finalize(self._bar)
                self._bar = None
            self._ended = True
            return True
        except BrokerError as exc:
            self._poll_failed(exc)
            self._check_bar_end(self.now())
            return True
        if self._failures:
            self._failures = 0
            self.put_notification(self.LIVE)
        now = self.now()
        self._on_quote(quote, now)
        self._check_bar_end(now)
        return True

    def _in_session(self, ny: datetime) -> bool:
        if not self.p.check_session:
            return True
        bounds = session_bounds(ny.date())
        return bounds is not None and bounds[0] <= ny <= bounds[1]

    def _bar_bounds(self, ny: datetime) -> tuple[Any, datetime, datetime]:
        bounds = session_bounds(ny.date())
        if bounds is None:  # replays of non-session days: the regular hours
            bounds = (datetime.combine(ny.date(), SESSION_OPEN, NEW_YORK), datetime.combine(ny.date(), SESSION_CLOSE, NEW_YORK))
        day_open, day_close = bounds
        if not self.p.bar_minutes:
            return ny.date(), day_open, day_close
        minutes = int(self.p.bar_minutes)
        n_bars = max(1, math.ceil((day_close - day_open).total_seconds() / 60 / minutes))
        idx = int(max(0.0, (ny - day_open).total_seconds()) // (60 * minutes))
        idx = min(idx, n_bars - 1)
        start = day_open + timedelta(minutes=idx * minutes)
        end = min(start + timedelta(minutes=minutes), day_close)
        return (ny.date(), idx), start, end

    def _on_quote(self, quote: Quote, now: datetime) -> None:
        ny = now.astimezone(NEW_YORK)
        if not self._in_session(ny) or quote.halted:
            return
        self._quote_seq += 1
        key, start, end = self._bar_bounds(ny)
        if self._bar is not None and self._bar.key != key:
            self._finalize(self._bar)
            self._bar = None
        price = float(quote.last)
        if self._bar is None:
            self._bar = _Bar(start=start, end=end, key=key, open=price, high=price, low=price, close=price)
        else:
            self._bar.update(price)
        bar = self._bar
        self.store.feeds[self.symbol].tick = Tick(self._quote_seq, quote, bar.open, bar.high, bar.low)

    def _check_bar_end(self, now: datetime) -> None:
        if self._bar is not None and now >= self._bar.end:
            self._finalize(self._bar)
            self._bar = None

    def _finalize(self, bar: _Bar) -> None:
        daily = not self.p.bar_minutes
        if daily:
            dt = datetime(bar.start.year, bar.start.month, bar.start.day)
        else:
            dt = bar.start.replace(tzinfo=None)
        vals = [bar.open, bar.high, bar.low, bar.close, bar.volume]
        if daily and self.p.official_bars:
            try:
                df = self.client.get_historicals(self.symbol, interval="day", span="week")
                ts = pd.Timestamp(dt)
                if ts in df.index:
                    row = df.loc[ts]
                    vals = [float(row[c]) for c in ("open", "high", "low", "close", "volume")]
                else:
                    logger.info("%s: official bar for %s not published yet; using quote bar", self.symbol, dt.date())
            except BrokerError as exc:
                logger.warning("%s: official bar for %s unavailable (%s); using quote bar", self.symbol, dt.date(), exc.reason)
        self._ready.append((dt, *vals))  # type: ignore[arg-type]

    def _emit(self, bar: tuple[datetime, float, float, float, float, float], *, backfill: bool) -> bool | None:
        dt, o, h, lo, c, v = bar
        if self._last_dt is not None and dt <= self._last_dt:
            logger.debug("%s: dropping bar %s (not after %s)", self.symbol, dt, self._last_dt)
            return None
        self._last_dt = dt
        self.delivering_backfill = backfill
        self.store.feeds[self.symbol].warming_up = backfill
        if backfill:
            self.bars_backfilled += 1
        else:
            self.bars_live += 1
        self.lines.datetime[0] = bt.date2num(dt)
        self.lines.open[0] = o
        self.lines.high[0] = h
        self.lines.low[0] = lo
        self.lines.close[0] = c
        self.lines.volume[0] = v
        self.lines.openinterest[0] = 0.0
        return True
