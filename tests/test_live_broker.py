"""RobinhoodBroker: paper fills, live tracking, cached state, safety rails, real-money gate."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import backtrader as bt
import pandas as pd
import pytest
import responses

from maml_strategy.errors import ConfigError
from maml_strategy.live.calendar import NEW_YORK, is_market_open
from maml_strategy.live.client import RobinhoodClient
from maml_strategy.live.config import LiveConfig
from maml_strategy.live.safety import authorize_real_orders
from maml_strategy.live.store import RobinhoodStore
from maml_strategy.live.replay import ReplayClient
from tests.live_fakes import LOOSE, FakeBrokerClient, RobinhoodHTTPStub, make_bars


class Scripted(bt.Strategy):
    """Submits ``plan[k]`` (signed size or "close") on the k-th tradeable bar."""

    params = (("plan", {}), ("start", None))

    def __init__(self):
        self.k = -1
        self.notes = []
        self.fills = []

    def tradeable(self):
        if self.p.start is not None:
            return pd.Timestamp(self.data.datetime.date(0)) >= pd.Timestamp(self.p.start)
        return not self.data.delivering_backfill

    def notify_order(self, order):
        self.notes.append((order.getstatusname(), order.info.get("reject_reason")))
        if order.status in (order.Completed, order.Partial):
            bit = order.executed.exbits[-1] if order.executed.exbits else None
            if bit is not None:
                self.fills.append((bit.size, round(bit.price, 6)))

    def next(self):
        if not self.tradeable():
            return
        self.k += 1
        action = self.p.plan.get(self.k)
        if action == "close":
            self.close()
        elif action:
            (self.buy if action > 0 else self.sell)(size=abs(action))


def replay(bars, start_idx, plan, broker_kwargs=None, cfg=None, strategy=Scripted, fake_kwargs=None):
    fake = FakeBrokerClient(bars, start=bars.index[start_idx], **(fake_kwargs or {}))
    cfg = cfg or LiveConfig(**LOOSE)
    cerebro = bt.Cerebro(stdstats=False)
    store = RobinhoodStore(fake, cfg)
    data = store.getdata("SPY")
    cerebro.adddata(data)
    kw = dict(check_market_hours=False)
    kw.update(broker_kwargs or {})
    broker = store.getbroker(kw.pop("mode", "paper"), **kw)
    cerebro.setbroker(broker)
    cerebro.addstrategy(strategy, plan=plan)
    strat = cerebro.run()[0]
    return strat, broker, fake, data


# --------------------------------------------------------------------- paper
def test_paper_replay_matches_backtrader_backbroker():
    bars = make_bars(40)
    plan = {0: 10, 3: "close", 5: 20, 6: -5, 9: "close", 11: 7}
    strat, broker, fake, _ = replay(bars, 20, plan)

    ref = bt.Cerebro(stdstats=False)
    ref.adddata(bt.feeds.PandasData(dataname=bars))
    ref.broker.setcash(100_000.0)
    ref.broker.setcommission(commission=5 / 1e4)
    ref.addstrategy(Scripted, plan=plan, start=bars.index[20])
    ref_strat = ref.run()[0]

    assert strat.fills == ref_strat.fills
    assert len(strat.fills) == 6
    assert broker.getvalue() == pytest.approx(ref.broker.getvalue(), rel=1e-12)
    assert broker.getcash() == pytest.approx(ref.broker.getcash(), rel=1e-12)
    assert fake.order_posts == 0 and "place_market_order" not in fake.calls


def test_paper_notifications_and_commission():
    bars = make_bars(30)
    strat, broker, _, _ = replay(bars, 20, {0: 10})
    assert [n[0] for n in strat.notes] == ["Submitted", "Accepted", "Completed"]
    (size, price), = strat.fills
    assert size == 10 and price == pytest.approx(bars.open.iloc[21])
    assert broker.getcash() == pytest.approx(100_000 - 10 * price * (1 + 5e-4))
    assert broker.getposition(strat.data).size == 10


def test_paper_fill_uses_ask_and_bid():
    bars = make_bars(30)
    strat, broker, _, _ = replay(bars, 20, {0: 10, 1: -10}, fake_kwargs={"spread_bps": 10.0})
    (b, pb), (s, ps) = strat.fills
    assert pb == pytest.approx(round(bars.open.iloc[21] * 1.0005, 6))
    assert ps == pytest.approx(round(bars.open.iloc[22] * 0.9995, 6))


def test_paper_not_enough_cash_is_margin():
    bars = make_bars(30)
    strat, broker, _, _ = replay(bars, 20, {0: 5000})
    assert strat.notes[-1][0] == "Margin"
    assert broker.getcash() == pytest.approx(100_000.0)


def test_warm_up_orders_are_rejected():
    bars = make_bars(30)

    class EagerStrategy(Scripted):
        def tradeable(self):
            return True  # also trades backfill bars

    strat, broker, _, data = replay(bars, 25, {0: 1}, strategy=EagerStrategy)
    assert strat.notes[-1] == ("Rejected", "warm-up (backfill) bar; orders are only sent on live bars")


def test_paper_mode_never_touches_order_endpoints(tmp_path):
    """Real client, real robin_stocks, HTTP stubs; any order endpoint hit fails the test."""
    times = [
        datetime(2024, 7, 8, 9, 30), datetime(2024, 7, 8, 12, 0), datetime(2024, 7, 8, 16, 0),
        datetime(2024, 7, 9, 9, 30), datetime(2024, 7, 9, 12, 0), datetime(2024, 7, 9, 16, 0),
        datetime(2024, 7, 10, 9, 30), datetime(2024, 7, 10, 12, 0),
    ]
    prices = [100.0, 101.0, 102.0, 103.0, 102.5, 104.0, 105.0, 104.0]
    clock = {"i": -1}

    def now():
        i = clock["i"]
        t = times[i] if i >= 0 else datetime(2024, 7, 8, 9, 0)
        return t.replace(tzinfo=NEW_YORK).astimezone(timezone.utc)

    class Stub(RobinhoodHTTPStub):
        order_hits = 0

        def _quotes(self, request):
            if clock["i"] + 1 >= len(times):
                return ConnectionError("stub: no more quotes")
            clock["i"] += 1
            self.price = prices[clock["i"]]
            return super()._quotes(request)

        def _place(self, request):
            Stub.order_hits += 1
            return self._json(500, {"detail": "paper mode must not place orders"})

        def _list_orders(self, request):
            Stub.order_hits += 1
            return super()._list_orders(request)

    cfg = LiveConfig(session_dir=str(tmp_path), min_request_interval_s=0.0, backoff_base_s=0.0,
                     max_read_attempts=1, **LOOSE)
    client = RobinhoodClient(cfg, env={"ROBINHOOD_USERNAME": "u", "ROBINHOOD_PASSWORD": "p4ssword"},
                             sleep=lambda s: None, now=now)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        stub = Stub(rsps)
        client.login()
        cerebro = bt.Cerebro(stdstats=False, quicknotify=True)  # the run ends right after the last fill
        store = RobinhoodStore(client, cfg)
        data = store.getdata("SPY", poll_interval=0.0, idle_sleep=0.0, max_failures=2)
        cerebro.adddata(data)
        broker = store.getbroker(check_market_hours=False)
        cerebro.setbroker(broker)
        cerebro.addstrategy(Scripted, plan={0: 5, 1: -5})
        strat = cerebro.run()[0]
        order_urls = [c.request.url for c in rsps.calls if "/orders/" in c.request.url]
    assert Stub.order_hits == 0 and order_urls == [] and stub.order_posts == []
    assert strat.fills == [(5, pytest.approx(103.01)), (-5, pytest.approx(104.99))]
    assert broker.getposition(data).size == 0


# ---------------------------------------------------------------------- live
def live_auth(cfg):
    return authorize_real_orders(cfg, live_flag=True, yes_real_money=True, account_last4="1234")


def test_live_mode_tracks_partial_fills_to_completion():
    bars = make_bars(30)
    cfg = LiveConfig(allow_real_orders=True, refresh_interval_s=0.0, **LOOSE)
    strat, broker, fake, data = replay(
        bars, 20, {0: 9}, cfg=cfg, broker_kwargs={"mode": "live", "authorization": live_auth(cfg)},
        fake_kwargs={"partial_fills": 3},
    )
    assert fake.order_posts == 1
    assert [n[0] for n in strat.notes] == ["Submitted", "Accepted", "Partial", "Partial", "Completed"]
    assert [f[0] for f in strat.fills] == pytest.approx([3.0, 3.0, 3.0])
    assert broker.getposition(data).size == pytest.approx(9.0)
    assert broker.getcash() == pytest.approx(fake.cash)
    rec, = broker.journal.orders.values()
    assert rec.status == "filled" and rec.filled == pytest.approx(9.0) and rec.broker_id


def test_live_rejection_becomes_rejected_order():
    bars = make_bars(30)
    cfg = LiveConfig(allow_real_orders=True, refresh_interval_s=0.0, **LOOSE)
    strat, broker, fake, _ = replay(
        bars, 20, {0: 100_000, 1: 2}, cfg=cfg, broker_kwargs={"mode": "live", "authorization": live_auth(cfg)},
        fake_kwargs={"cash": 1000.0},
    )
    assert ("Rejected", "Robinhood rejected the order: Not enough buying power.") in strat.notes
    assert strat.notes[-1][0] == "Completed"  # the run went on and the next order filled


def test_live_state_is_cached_not_fetched_per_call():
    bars = make_bars(30)
    cfg = LiveConfig(allow_real_orders=True, refresh_interval_s=3600.0, **LOOSE)

    class Greedy(Scripted):
        def next(self):
            for _ in range(5):
                self.broker.getcash(), self.broker.getvalue(), self.broker.getposition(self.data)
            super().next()

    strat, broker, fake, _ = replay(
        bars, 20, {}, cfg=cfg, broker_kwargs={"mode": "live", "authorization": live_auth(cfg)}, strategy=Greedy
    )
    assert fake.calls.count("get_account") == 1  # at start only; the timer never expired
    assert fake.calls.count("get_positions") == 1


def test_live_mode_needs_all_keys():
    cfg = LiveConfig(allow_real_orders=True)
    store = RobinhoodStore(FakeBrokerClient(make_bars(10)), cfg)
    with pytest.raises(ConfigError, match="LiveAuthorization"):
        store.getbroker("live")
    with pytest.raises(ConfigError, match="allow_real_orders"):
        RobinhoodStore(store.client, LiveConfig()).getbroker("live", authorization=live_auth(cfg))
    with pytest.raises(ConfigError):
        store.getbroker("real")
    with pytest.raises(ConfigError, match="places orders"):  # a replay client cannot trade for real
        RobinhoodStore(ReplayClient(make_bars(10)), cfg).getbroker("live", authorization=live_auth(cfg))


def test_authorize_real_orders_three_keys():
    off, on = LiveConfig(), LiveConfig(allow_real_orders=True)
    assert authorize_real_orders(on, live_flag=False, yes_real_money=True) is None  # no --live: paper
    with pytest.raises(ConfigError, match="allow_real_orders"):
        authorize_real_orders(off, live_flag=True, yes_real_money=True)
    assert authorize_real_orders(on, live_flag=True, yes_real_money=True).confirmed_by == "--yes-real-money"
    with pytest.raises(ConfigError, match="not a terminal"):
        authorize_real_orders(on, live_flag=True, isatty=lambda: False)
    ok = authorize_real_orders(on, live_flag=True, account_last4="9876", input_fn=lambda p: "9876", isatty=lambda: True)
    assert ok.confirmed_by == "prompt"
    assert authorize_real_orders(on, live_flag=True, input_fn=lambda p: "YES", isatty=lambda: True)
    with pytest.raises(ConfigError, match="did not match"):
        authorize_real_orders(on, live_flag=True, account_last4="9876", input_fn=lambda p: "yes", isatty=lambda: True)


# ---------------------------------------------------------------------- rails
def test_order_notional_limit_rejects_and_run_continues():
    bars = make_bars(30)
    cfg = LiveConfig(**{**LOOSE, "max_order_notional": 1500.0})
    strat, broker, _, _ = replay(bars, 20, {0: 100, 1: 10}, cfg=cfg)
    rejected = [n for n in strat.notes if n[0] == "Rejected"]
    assert len(rejected) == 1 and "max_order_notional" in rejected[0][1]
    assert strat.notes[-1][0] == "Completed"


def test_position_notional_limit():
    bars = make_bars(30)
    cfg = LiveConfig(**{**LOOSE, "max_position_notional": 1500.0})
    strat, broker, _, _ = replay(bars, 20, {0: 10, 1: 10, 2: -5}, cfg=cfg)
    assert [n for n in strat.notes if n[0] == "Rejected"][0][1].startswith("position notional")
    assert broker.getposition(strat.data).size == 5  # reducing orders still allowed


def test_max_orders_per_day_and_no_shorting():
    bars = make_bars(30)
    cfg = LiveConfig(**{**LOOSE, "max_orders_per_day": 1})

    class TwoADay(Scripted):
        def next(self):
            if self.tradeable() and self.k < 0:
                self.buy(size=1)
                self.buy(size=1)
                self.sell(size=50)
            super().next()

    strat, broker, _, _ = replay(bars, 20, {}, cfg=cfg, strategy=TwoADay)
    reasons = [n[1] for n in strat.notes if n[0] == "Rejected"]
    assert any("max_orders_per_day" in r for r in reasons)
    assert any("short" in r for r in reasons)


def test_kill_switch_blocks_orders_and_says_why(tmp_path):
    kill = tmp_path / "KILL"
    kill.write_text("stop")
    bars = make_bars(30)
    cfg = LiveConfig(**{**LOOSE, "kill_switch_path": str(kill)})
    strat, broker, fake, _ = replay(bars, 20, {0: 1}, cfg=cfg)
    assert strat.notes[-1][0] == "Rejected" and "kill switch" in strat.notes[-1][1]
    assert "kill switch" in broker.status()["blocked"]
    kill.unlink()
    assert broker.blocked_reason() is None


def test_market_hours_rail_uses_the_clock():
    bars = make_bars(30)
    # replayed bars close at 16:00 New York, when the regular session is over
    strat, _, _, _ = replay(bars, 20, {0: 1}, broker_kwargs={"check_market_hours": True})
    assert strat.notes[-1][0] == "Rejected" and "market closed" in strat.notes[-1][1]
    assert is_market_open(datetime(2024, 7, 1, 13, 30, tzinfo=timezone.utc))  # 09:30 New York
    assert not is_market_open(datetime(2024, 7, 1, 20, 0, tzinfo=timezone.utc))  # 16:00 New York
    assert not is_market_open(datetime(2024, 7, 6, 15, 0, tzinfo=timezone.utc))  # Saturday


def test_daily_loss_limit_flattens_and_stops():
    bars = make_bars(30, seed=3)
    # a crash on day 23: opens 20 % lower
    bars.iloc[23:] = bars.iloc[23:] * 0.8
    bars.loc[bars.index[23:], "volume"] = 1e6
    cfg = LiveConfig(**{**LOOSE, "daily_loss_limit": 0.05})
    strat, broker, fake, data = replay(bars, 20, {0: 900}, cfg=cfg)
    assert broker.journal.halt_reason and "daily loss" in broker.journal.halt_reason
    assert broker.getposition(data).size == 0  # flattened
    assert data.stop_reason is not None  # and stopped
    assert data.bars_live < 10
    assert [f.size for f in broker.journal.fills] == [900, -900]
    # the flattening sell was decided at the crash day's open tick and filled at the next tick (the day's
    # high on a down day): never better than the open, and inside the bar's range
    sell = broker.journal.fills[-1]
    day = bars.loc[pd.Timestamp(sell.time[:10])]
    assert day.low <= sell.price <= day.open
    assert sell.price == pytest.approx(day.open)


def test_fill_price_never_better_than_the_open():
    from maml_strategy.live.fills import Tick, fill_price
    from maml_strategy.live.models import Quote

    at_high = Tick(2, Quote(105.0, 105.2, 105.1, datetime(2024, 7, 1, 15, tzinfo=timezone.utc)), 100.0, 105.1, 99.0)
    at_low = Tick(3, Quote(98.9, 99.1, 99.0, datetime(2024, 7, 1, 17, tzinfo=timezone.utc)), 100.0, 105.1, 99.0)
    assert fill_price("sell", at_high) == 100.0 and fill_price("buy", at_high) == 105.2
    assert fill_price("buy", at_low) == 100.0 and fill_price("sell", at_low) == 98.9
    with pytest.raises(ValueError):
        fill_price("short", at_low)


def test_paper_fills_lie_inside_the_bars():
    bars = make_bars(40, seed=5)
    plan = {k: (10 if k % 2 == 0 else -10) for k in range(15)}
    strat, broker, _, _ = replay(bars, 20, plan)
    assert len(broker.journal.fills) == 15
    for f in broker.journal.fills:
        day = bars.loc[pd.Timestamp(f.time[:10])]
        assert day.low - 1e-9 <= f.price <= day.high + 1e-9
        assert f.price >= day.open - 1e-9 if f.size > 0 else f.price <= day.open + 1e-9


def test_now_is_timezone_aware_for_rails():
    fake = FakeBrokerClient(make_bars(10))
    broker = RobinhoodStore(fake, LiveConfig(**LOOSE)).getbroker()
    assert broker.guard.now().tzinfo is not None
    assert broker.status()["mode"] == "paper"
    assert fake.now() - broker.guard.now() == timedelta(0)
