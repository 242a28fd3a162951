"""Journal: atomic writes, and a killed session resumes with identical state and no duplicate order."""

from __future__ import annotations

import json
import os
import stat

import backtrader as bt
import numpy as np
import pandas as pd
import pytest
import responses

from maml_strategy.errors import BrokerError
from maml_strategy.live.client import ORDERS_URL, RobinhoodClient
from maml_strategy.live.config import LiveConfig
from maml_strategy.live.journal import FillRecord, Journal
from maml_strategy.live.replay import ReplayClient
from maml_strategy.live.safety import authorize_real_orders
from maml_strategy.live.store import RobinhoodStore
from tests.live_fakes import LOOSE, RobinhoodHTTPStub


def make_bars(n: int = 30, seed: int = 2) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = close * np.exp(rng.normal(0, 0.004, n))
    high = np.maximum(open_, close) * 1.004
    low = np.minimum(open_, close) * 0.996
    return pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": 1e6},
        index=pd.bdate_range("2024-01-01", periods=n),
    )


# ---------------------------------------------------------------- file level
def test_roundtrip_and_permissions(tmp_path):
    path = tmp_path / "j" / "journal.json"
    j = Journal(path)
    j.bind_mode("paper")
    j.upsert_order("r1", symbol="SPY", side="buy", size=2.0, status="accepted")
    assert j.add_fill(FillRecord("f1", "r1", "SPY", 2.0, 10.0))
    assert not j.add_fill(FillRecord("f1", "r1", "SPY", 2.0, 10.0))
    j.cash = 5.0
    j.save()
    again = Journal(path)
    assert again.loaded and again.snapshot() == j.snapshot()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["journal.json"]  # no temp files left
    assert again.orders["r1"].size == 2.0 and again.fills[0].price == 10.0  # typed records come back


def test_malformed_record_is_refused(tmp_path):
    path = tmp_path / "journal.json"
    Journal(path).upsert_order("r1", status="accepted")
    state = json.loads(path.read_text())
    state["orders"]["r1"]["colour"] = "red"
    path.write_text(json.dumps(state))
    with pytest.raises(BrokerError, match="malformed order"):
        Journal(path)


def test_failed_write_keeps_previous_state(tmp_path, monkeypatch):
    path = tmp_path / "journal.json"
    j = Journal(path)
    j.upsert_order("r1", status="accepted")
    before = path.read_text()

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        j.upsert_order("r2", status="accepted")
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["journal.json"]


def test_corrupt_or_foreign_journal_is_refused(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(BrokerError, match="unreadable"):
        Journal(bad)
    bad.write_text(json.dumps({"version": 99}))
    with pytest.raises(BrokerError, match="version"):
        Journal(bad)
    j = Journal(tmp_path / "paper.json")
    j.bind_mode("paper")
    with pytest.raises(BrokerError, match="paper mode"):
        Journal(tmp_path / "paper.json").bind_mode("live")


# ------------------------------------------------------------ kill / restart
class OneDecision(bt.Strategy):
    """Buys 7 on the first live bar and sells 3 on the fourth (decisions are per bar)."""

    params = (("die_after_submit", False),)

    def __init__(self):
        self.k = -1

    def next(self):
        if self.data.delivering_backfill:
            return
        self.k += 1
        if self.k == 0:
            self.buy(size=7)
            if self.p.die_after_submit:
                self.env.runstop()  # the process "dies": no further quote, no fill recorded
        elif self.k == 3:
            self.sell(size=3)


def paper_run(bars, journal_path, die=False):
    store = RobinhoodStore(ReplayClient(bars, start=bars.index[20]), LiveConfig(**LOOSE))
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(store.getdata("SPY"))
    broker = store.getbroker(journal=str(journal_path))
    cerebro.setbroker(broker)
    cerebro.addstrategy(OneDecision, die_after_submit=die)
    cerebro.run()
    return broker


def _essential(state):
    orders = {r: {k: o[k] for k in ("symbol", "side", "size", "filled", "avg_price", "status")} for r, o in state["orders"].items()}
    fills = [(f["ref_id"], f["size"], f["price"], f["commission"]) for f in state["fills"]]
    return orders, fills, state["positions"], state["cash"]


def test_paper_session_killed_after_submit_resumes_identically(tmp_path):
    bars = make_bars(30)
    reference = paper_run(bars, tmp_path / "ref.json")

    path = tmp_path / "crash.json"
    dead = paper_run(bars, path, die=True)
    mid = Journal(path)
    (rec,) = mid.orders.values()
    assert rec.status == "accepted" and mid.fills == []  # submitted, fill never recorded

    resumed = paper_run(bars, path)  # restart: same decisions, same ref_ids
    assert _essential(resumed.journal.snapshot()) == _essential(reference.journal.snapshot())
    assert len(resumed.journal.orders) == 2  # the buy was not submitted twice
    assert resumed.getcash() == pytest.approx(reference.getcash())
    assert dead is not resumed


class DyingClient(RobinhoodClient):
    """Dies right after the order POST returned, before the broker can record anything."""

    class Died(BaseException):
        pass

    def place_market_order(self, *args, **kwargs):
        super().place_market_order(*args, **kwargs)
        raise DyingClient.Died()


class ReplayQuotes:
    """The real client for orders and the account; a replay for quotes, bars and the clock."""

    def __init__(self, client, replay):
        self.client, self.replay = client, replay

    def __getattr__(self, name):
        market = name in ("get_quote", "get_historicals", "now")
        return getattr(self.replay if market else self.client, name)


def live_run(bars, journal_path, client_cls, tmp_path):
    cfg = LiveConfig(allow_real_orders=True, session_dir=str(tmp_path / "s"), min_request_interval_s=0.0,
                     refresh_interval_s=0.0, **LOOSE)
    client = client_cls(cfg, env={"ROBINHOOD_USERNAME": "u", "ROBINHOOD_PASSWORD": "pw-123456"}, sleep=lambda s: None)
    client.login()
    store = RobinhoodStore(ReplayQuotes(client, ReplayClient(bars, start=bars.index[20], end=bars.index[22])), cfg,
                           replay=True)
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(store.getdata("SPY"))
    auth = authorize_real_orders(cfg, live_flag=True, yes_real_money=True)
    broker = store.getbroker("live", authorization=auth, journal=str(journal_path), check_market_hours=False)
    cerebro.setbroker(broker)
    cerebro.addstrategy(OneDecision)
    cerebro.run()
    return broker


def test_live_session_killed_after_post_never_doubles_the_order(tmp_path):
    bars = make_bars(30)
    path = tmp_path / "live.json"
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        stub = RobinhoodHTTPStub(rsps, price=100.0, cash=10_000.0)
        with pytest.raises(DyingClient.Died):
            live_run(bars, path, DyingClient, tmp_path)
        (rec,) = Journal(path).orders.values()
        assert rec.status == "submitting" and rec.broker_id is None  # POST went out, reply never recorded
        (order_id,) = stub.orders
        stub.fill(order_id, 4, 100.5)  # it (partly) fills while we are down...
        stub.fill(order_id, 3, 100.7)  # ...and completes

        broker = live_run(bars, path, RobinhoodClient, tmp_path)

        posts = [c for c in rsps.calls if c.request.method == "POST" and c.request.url == ORDERS_URL]
    assert len(posts) == 1
    (rec,) = broker.journal.orders.values()
    assert rec.status == "filled" and rec.broker_id == order_id
    assert rec.filled == pytest.approx(7) and rec.avg_price == pytest.approx((4 * 100.5 + 3 * 100.7) / 7)
    assert [(f.size, f.price) for f in broker.journal.fills] == [(4.0, 100.5), (3.0, 100.7)]
    assert broker.journal.positions["SPY"].size == pytest.approx(7)
    assert broker.getcash() == pytest.approx(stub.cash)


class SeveralDecisions(bt.Strategy):
    """Trades on four bars; ``die_at`` stops the session right after that bar's decision (a kill at that bar)."""

    params = (("die_at", -1),)
    plan = {0: 5, 2: -2, 4: 3, 6: -6}

    def __init__(self):
        self.k = -1

    def next(self):
        if self.data.delivering_backfill:
            return
        self.k += 1
        size = self.plan.get(self.k)
        if size:
            (self.buy if size > 0 else self.sell)(size=abs(size))
        if self.k == self.p.die_at:
            self.env.runstop()


def several_run(bars, journal_path, die_at=-1):
    store = RobinhoodStore(ReplayClient(bars, start=bars.index[20]), LiveConfig(**LOOSE))
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(store.getdata("SPY"))
    broker = store.getbroker(journal=str(journal_path))
    cerebro.setbroker(broker)
    cerebro.addstrategy(SeveralDecisions, die_at=die_at)
    cerebro.run()
    return broker


@pytest.mark.parametrize("die_at", [0, 1, 3, 6])
def test_replay_killed_at_any_bar_then_restarted_matches_an_uninterrupted_one(tmp_path, die_at):
    bars = make_bars(32)
    reference = several_run(bars, tmp_path / "ref.json")
    path = tmp_path / "crash.json"
    several_run(bars, path, die_at=die_at)
    again = several_run(bars, path)  # restart from the journal: the journal is the source of truth
    assert _essential(again.journal.snapshot()) == _essential(reference.journal.snapshot())
    assert len(again.journal.orders) == len(reference.journal.orders) == 4  # no order doubled
    assert again.getcash() == pytest.approx(reference.getcash())
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp file left
