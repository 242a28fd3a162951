"""RobinhoodData: backfill, quote polling, bar building, status notifications, replay."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import backtrader as bt
import numpy as np
import pandas as pd
import pytest

from maml_strategy.errors import BrokerError
from maml_strategy.live.config import LiveConfig
from maml_strategy.live.replay import EndOfReplay, ReplayClient
from maml_strategy.live.store import RobinhoodStore
from tests.live_fakes import FakeBrokerClient


def make_feed(client, symbol="SPY", config=None, replay=True, **kwargs):
    return RobinhoodStore(client, config, replay=replay).getdata(symbol, **kwargs)


def make_bars(n: int = 40, start: str = "2024-01-01", seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = close * np.exp(rng.normal(0, 0.003, n))
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.01, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.01, n))
    vol = rng.integers(1_000_000, 2_000_000, n).astype(float)
    idx = pd.bdate_range(start, periods=n)
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close, "volume": vol}, index=idx)


class Recorder(bt.Strategy):
    def __init__(self):
        self.rows = []
        self.statuses = []

    def notify_data(self, data, status, *args, **kwargs):
        self.statuses.append(data._getstatusname(status))

    def next(self):
        d = self.data
        self.rows.append(
            (pd.Timestamp(d.datetime.date(0)), d.open[0], d.high[0], d.low[0], d.close[0], d.volume[0],
             d.delivering_backfill)
        )


def run(data) -> Recorder:
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(data)
    cerebro.addstrategy(Recorder)
    return cerebro.run()[0]


def test_replay_rebuilds_every_bar_exactly():
    bars = make_bars(40)
    fake = ReplayClient(bars, start=bars.index[25])
    data = make_feed(fake, "SPY", LiveConfig(), replay=True)
    assert data.islive()
    strat = run(data)
    got = pd.DataFrame(strat.rows, columns=["date", "open", "high", "low", "close", "volume", "backfill"]).set_index("date")
    assert got["backfill"].tolist() == [True] * 25 + [False] * 15
    pd.testing.assert_frame_equal(
        got[["open", "high", "low", "close", "volume"]], bars, check_names=False, check_freq=False, check_index_type=False,
        rtol=1e-12,
    )
    assert strat.statuses == ["DELAYED", "LIVE", "DISCONNECTED"]
    assert data.bars_backfilled == 25 and data.bars_live == 15


def test_quote_built_bars_without_official_bars():
    bars = make_bars(12)
    fake = ReplayClient(bars, start=bars.index[6])
    strat = run(make_feed(fake, "SPY", LiveConfig(official_bars=False), replay=True))
    live = [r for r in strat.rows if not r[-1]]
    assert len(live) == 6
    for (date, o, h, lo, c, v, _), (_, row) in zip(live, bars.iloc[6:].iterrows()):
        assert (o, h, lo, c) == pytest.approx((row.open, row.high, row.low, row.close))
        assert v == 0.0  # quotes carry no volume


class FlakyClient:
    """Wraps a ReplayClient; get_quote fails on the given call numbers (before advancing)."""

    def __init__(self, inner: ReplayClient, fail_on: set[int]):
        self.inner = inner
        self.fail_on = fail_on
        self.n = 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def get_quote(self, symbol):
        self.n += 1
        if self.n in self.fail_on:
            raise BrokerError("Robinhood call get_quote failed: HTTP 503", call="get_quote", reason="HTTP 503")
        return self.inner.get_quote(symbol)


def test_connection_trouble_reports_connbroken_then_recovers():
    bars = make_bars(15)
    fake = ReplayClient(bars, start=bars.index[10])
    data = make_feed(FlakyClient(fake, {3, 4, 5}), "SPY", LiveConfig(), replay=True)
    strat = run(data)
    assert strat.statuses == ["DELAYED", "LIVE", "CONNBROKEN", "LIVE", "DISCONNECTED"]
    assert sum(1 for r in strat.rows if not r[-1]) == 5  # no bar lost


def test_too_many_failures_stop_the_feed():
    bars = make_bars(15)
    fake = ReplayClient(bars, start=bars.index[10])
    data = make_feed(FlakyClient(fake, set(range(3, 100))), "SPY", LiveConfig(), replay=True, max_failures=4)
    strat = run(data)
    assert strat.statuses[-2:] == ["CONNBROKEN", "DISCONNECTED"]
    assert "4 consecutive failures" in data.stop_reason


def test_backfill_failure_is_retried():
    bars = make_bars(10)
    fake = ReplayClient(bars, start=bars.index[5])
    calls = {"n": 0}
    real = fake.get_historicals

    def flaky(*a, **k):
        calls["n"] += 1
        if calls["n"] == 1:
            raise BrokerError("down", call="get_historicals", reason="HTTP 502")
        return real(*a, **k)

    fake.get_historicals = flaky  # type: ignore[method-assign]
    strat = run(make_feed(fake, "SPY", LiveConfig(), replay=True))
    assert len(strat.rows) == 10
    assert strat.statuses[:2] == ["DELAYED", "CONNBROKEN"]


def test_load_is_non_blocking_while_waiting():
    bars = make_bars(10)
    fake = ReplayClient(bars, start=bars.index[5])
    data = make_feed(fake, poll_interval=30.0, idle_sleep=0.01)
    cerebro = bt.Cerebro()
    cerebro.adddata(data)
    data._start()
    results = []
    for _ in range(10):
        t0 = time.monotonic()
        results.append(data.next())
        assert time.monotonic() - t0 < 0.5
    assert results[:5] == [True] * 5  # backfill
    assert results[5:] == [None] * 5  # waiting for the next poll, not blocking
    data.request_stop("test over")
    assert data.next() is False


def test_request_stop_ends_the_run():
    bars = make_bars(30)
    fake = ReplayClient(bars, start=bars.index[10])

    class StopAfter3(Recorder):
        def next(self):
            super().next()
            if sum(1 for r in self.rows if not r[-1]) == 3:
                self.data.request_stop("enough")

    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(make_feed(fake, "SPY", LiveConfig(), replay=True))
    cerebro.addstrategy(StopAfter3)
    strat = cerebro.run()[0]
    assert sum(1 for r in strat.rows if not r[-1]) == 3
    assert strat.statuses[-1] == "DISCONNECTED"


def test_intraday_bars():
    bars = make_bars(6)
    fake = ReplayClient(bars, start=bars.index[3])
    data = make_feed(fake, "SPY", LiveConfig(bar_interval="120"), replay=True, backfill=False)
    strat = run(data)
    # replay quotes at 09:30, 11:00 | 13:30 | 16:00 -> three bars a day
    assert len(strat.rows) == 9
    first_day = bars.iloc[3]
    assert strat.rows[0][1] == pytest.approx(first_day.open)
    assert strat.rows[2][4] == pytest.approx(first_day.close)


def test_fake_historicals_have_no_look_ahead():
    bars = make_bars(10)
    fake = FakeBrokerClient(bars, start=bars.index[5])
    assert fake.get_historicals("SPY").index[-1] == bars.index[4]
    fake.get_quote("SPY")  # 09:30 of day 5: its bar is not finished
    assert fake.get_historicals("SPY").index[-1] == bars.index[4]
    fake.skip(3)  # ... 16:00
    assert fake.get_historicals("SPY").index[-1] == bars.index[5]
    fake.advance_to_end()
    with pytest.raises(EndOfReplay):
        fake.get_quote("SPY")


def test_fake_speed_paces_bars():
    bars = make_bars(8)
    now = [0.0]
    slept = []

    def sleep(s):
        slept.append(s)
        now[0] += s

    fake = ReplayClient(bars, start=bars.index[4], speed=2.0, sleep=sleep, monotonic=lambda: now[0])
    for _ in range(16):
        fake.get_quote("SPY")
    assert sum(slept) == pytest.approx(1.5)  # 4 bars at 2 bars/s: 3 waits of 0.5 s


def test_feed_clock_defaults_to_client_clock():
    bars = make_bars(8)
    fake = ReplayClient(bars, start=bars.index[4])
    data = make_feed(fake, "SPY", replay=True)
    assert data.now() == fake.now()
    assert fake.now() == datetime(2024, 1, 5, 14, 0, tzinfo=timezone.utc)  # 09:00 New York
