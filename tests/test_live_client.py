"""RobinhoodClient against HTTP stubs: the real robin_stocks code runs, only the wire is faked."""

from __future__ import annotations

import os
import stat
import sys
import uuid

import pyotp
import pytest
import requests
import responses

from maml_strategy.errors import BrokerError, ConfigError
from maml_strategy.live.client import ORDERS_URL, RobinhoodClient
from maml_strategy.live.models import OrderStateUnknown
from maml_strategy.live.config import LiveConfig
from tests.live_fakes import RobinhoodHTTPStub
from maml_strategy.live.ratelimit import RateLimiter
from maml_strategy.live.retry import RetryPolicy

MFA_SECRET = pyotp.random_base32()
ENV = {
    "ROBINHOOD_USERNAME": "trader@example.com",
    "ROBINHOOD_PASSWORD": "correct-horse-Battery-9",
    "ROBINHOOD_MFA_SECRET": MFA_SECRET,
}


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def stub(rsps):
    return RobinhoodHTTPStub(rsps, price=100.0)


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def client(tmp_path, sleeps):
    cfg = LiveConfig(
        session_dir=str(tmp_path / "session"),
        min_request_interval_s=0.0,
        backoff_base_s=0.5,
        order_lookup_wait_s=0.25,
        request_timeout_s=7.0,
    )
    return RobinhoodClient(cfg, env=ENV, sleep=sleeps.append)


@pytest.fixture
def logged_in(client, stub):
    client.login()
    return client


def _order_posts(rsps):
    return [c for c in rsps.calls if c.request.method == "POST" and c.request.url == ORDERS_URL]


# ----------------------------------------------------------------------- login
def test_login_sends_totp_and_secures_session_file(client, stub):
    client.login()
    assert client.logged_in
    sent = stub.login_requests[0]
    assert sent["username"] == ENV["ROBINHOOD_USERNAME"]
    assert pyotp.TOTP(MFA_SECRET).verify(sent["mfa_code"], valid_window=1)
    session_dir = os.path.dirname(client.session_file)
    assert stat.S_IMODE(os.stat(session_dir).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(client.session_file).st_mode) == 0o600


def test_login_tightens_existing_session_dir(client, stub, tmp_path):
    session = tmp_path / "session"
    session.mkdir(mode=0o755)
    os.chmod(session, 0o755)
    client.login()
    assert stat.S_IMODE(os.stat(session).st_mode) == 0o700


def test_login_without_credentials_is_a_config_error(tmp_path, stub):
    client = RobinhoodClient(LiveConfig(session_dir=str(tmp_path)), env={})
    with pytest.raises(ConfigError, match="ROBINHOOD_USERNAME"):
        client.login()


def test_login_refused_names_call_and_reason(client, stub):
    stub.login_status = 401
    with pytest.raises(BrokerError) as info:
        client.login()
    assert info.value.call == "login"
    assert "Unable to log in" in info.value.reason
    assert not client.logged_in


def test_calls_before_login_raise(client, stub):
    with pytest.raises(BrokerError, match="not logged in"):
        client.get_quote("SPY")


def test_missing_robin_stocks_gives_install_hint(client, monkeypatch):
    monkeypatch.setitem(sys.modules, "robin_stocks.robinhood", None)
    with pytest.raises(BrokerError, match=r"pip install maml-strategy\[live\]"):
        client.login()


# ------------------------------------------------------------------ market data
def test_quote_and_timeout_applied(logged_in, rsps):
    q = logged_in.get_quote("spy")
    assert (q.bid, q.ask, q.last) == pytest.approx((99.99, 100.01, 100.0))
    assert q.time.tzinfo is not None
    quote_call = [c for c in rsps.calls if "/quotes/" in c.request.url][-1]
    assert quote_call.request.req_kwargs["timeout"] == 7.0  # robin_stocks itself sends none


def test_historicals_are_validated_floats(logged_in):
    df = logged_in.get_historicals("SPY", interval="day", span="year")
    assert list(df.columns[:5]) == ["open", "high", "low", "close", "volume"]
    assert all(str(df[c].dtype) == "float64" for c in ["open", "high", "low", "close", "volume"])
    assert df.index.is_monotonic_increasing and df.index.tz is None
    assert df["close"].iloc[0] == pytest.approx(100.5)


def test_historicals_with_bad_prices_raise(logged_in, stub):
    stub.historicals[2]["high_price"] = "1.0"  # high < low cannot be repaired
    with pytest.raises(BrokerError) as info:
        logged_in.get_historicals("SPY", span="year")
    assert info.value.call == "get_historicals"
    assert "invalid historical bars" in info.value.reason


def test_historicals_unknown_symbol(logged_in, stub):
    stub.historicals.clear()
    with pytest.raises(BrokerError) as info:
        logged_in.get_historicals("SPY", span="year")
    assert "no historical bars" in info.value.reason


def test_unknown_symbol_is_a_broker_error(logged_in, stub):
    stub.quote_behavior = [(200, {"results": [None]})]  # robin_stocks returns [None]
    with pytest.raises(BrokerError) as info:
        logged_in.get_quote("XXXX")
    assert info.value.call == "get_quote"
    assert "[None]" in info.value.reason


def test_none_result_is_a_broker_error(logged_in, monkeypatch):
    import robin_stocks.robinhood as rs

    monkeypatch.setattr(rs, "load_portfolio_profile", lambda *a, **k: None)
    with pytest.raises(BrokerError) as info:
        logged_in.get_account()
    assert info.value.call == "get_account"
    assert "None" in info.value.reason


def test_account_and_positions(logged_in, stub):
    stub.positions["SPY"] = 3.0
    acct = logged_in.get_account()
    assert acct.cash == pytest.approx(10_000.0) and acct.last4 == "1234"
    assert "5QR0" not in repr(acct)
    pos = logged_in.get_positions()
    assert pos["SPY"].quantity == pytest.approx(3.0)


# ------------------------------------------------------------------ retries
def test_429_on_read_is_retried_then_succeeds(logged_in, stub, sleeps):
    stub.quote_behavior = [429, 503]
    assert logged_in.get_quote("SPY").last == pytest.approx(100.0)
    assert sleeps == [0.5, 1.0]  # exponential back-off


@pytest.mark.parametrize(
    "failure, reason",
    [
        (500, "HTTP 500"),
        (requests.exceptions.ConnectionError("reset by peer"), "connection error"),
        (requests.exceptions.ReadTimeout("slow"), "timeout"),
    ],
)
def test_persistent_read_failure_raises_after_retries(logged_in, stub, sleeps, failure, reason):
    stub.quote_behavior = [failure] * 4
    with pytest.raises(BrokerError) as info:
        logged_in.get_quote("SPY")
    assert info.value.call == "get_quote"
    assert reason in info.value.reason
    assert len(sleeps) == 3  # 4 attempts


def test_404_is_not_retried(logged_in, sleeps):
    with pytest.raises(BrokerError) as info:
        logged_in.get_order(str(uuid.uuid4()))
    assert "HTTP 404" in info.value.reason and info.value.call == "get_order"
    assert sleeps == []


def test_rate_limit_spaces_requests():
    now = [0.0]
    slept: list[float] = []

    def sleep(s):
        slept.append(s)
        now[0] += s

    rl = RateLimiter(1.0, clock=lambda: now[0], sleep=sleep)
    rl.acquire()
    now[0] += 0.25
    rl.acquire()
    rl.acquire()
    assert slept == pytest.approx([0.75, 1.0])


def test_client_rate_limit_applies_to_every_request(tmp_path, stub):
    now = [0.0]
    slept: list[float] = []

    def sleep(s):
        slept.append(s)
        now[0] += s

    client = RobinhoodClient(
        LiveConfig(session_dir=str(tmp_path), min_request_interval_s=1.0), env=ENV, sleep=sleep, clock=lambda: now[0]
    )
    client.login()
    client.get_quote("SPY")
    client.get_quote("SPY")
    assert len(slept) == 2 and all(s == pytest.approx(1.0) for s in slept)


def test_retry_policy_caps_and_honours_retry_after():
    p = RetryPolicy(max_attempts=5, base_delay=1.0, max_delay=5.0)
    assert [p.delay(i) for i in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 5.0]
    assert p.delay(1, retry_after=3.0) == 3.0


# ------------------------------------------------------------------- orders
def test_place_lookup_and_cancel_order(logged_in, stub, rsps):
    ref = str(uuid.uuid4())
    order = logged_in.place_market_order("SPY", 2, "buy", ref_id=ref)
    assert order["id"] and order["ref_id"] == ref and order["state"] == "queued"
    posted = stub.order_posts[0]
    assert posted["ref_id"] == ref and posted["side"] == "buy" and posted["quantity"] == "2"
    assert posted["account"] == stub.account_url and posted["instrument"] == stub.instrument_url
    assert logged_in.get_order(order["id"])["state"] == "queued"
    assert logged_in.find_order_by_ref_id(ref)["id"] == order["id"]
    assert logged_in.find_order_by_ref_id(str(uuid.uuid4())) is None
    assert logged_in.cancel_order(order["id"]) == {}
    assert logged_in.get_order(order["id"])["state"] == "cancelled"
    assert len(_order_posts(rsps)) == 1


def test_sell_payload_is_a_plain_market_order(logged_in, stub):
    logged_in.place_market_order("SPY", 1, "sell")
    posted = stub.order_posts[0]
    assert posted["type"] == "market" and "price" not in posted


def test_not_enough_buying_power(logged_in, stub, rsps):
    stub.post_behavior = (400, {"detail": "Not enough buying power."})
    with pytest.raises(BrokerError) as info:
        logged_in.place_market_order("SPY", 1000, "buy")
    assert not isinstance(info.value, OrderStateUnknown)
    assert info.value.call == "place_market_order"
    assert info.value.reason == "Not enough buying power."
    assert len(_order_posts(rsps)) == 1


def test_cancel_error_dict_is_a_broker_error(logged_in, stub):
    order = logged_in.place_market_order("SPY", 1, "buy")
    stub.fill(order["id"])
    with pytest.raises(BrokerError) as info:
        logged_in.cancel_order(order["id"])
    assert info.value.call == "cancel_order" and "cannot be cancelled" in info.value.reason


def test_post_timeout_is_resolved_by_ref_id_without_a_second_post(logged_in, stub, rsps):
    stub.post_behavior = "timeout_after_create"
    ref = str(uuid.uuid4())
    order = logged_in.place_market_order("SPY", 1, "buy", ref_id=ref)
    assert order["ref_id"] == ref
    assert len(_order_posts(rsps)) == 1
    assert len(stub.orders) == 1


@pytest.mark.parametrize(
    "behavior, why",
    [
        ("timeout", "ReadTimeout"),
        ("connection_error", "ConnectionError"),
        (500, "HTTP 500"),
        ((201, {"state": "queued"}), "no id"),
    ],
)
def test_ambiguous_post_not_found_raises_unknown_and_never_reposts(logged_in, stub, rsps, behavior, why, sleeps):
    stub.post_behavior = behavior
    ref = str(uuid.uuid4())
    with pytest.raises(OrderStateUnknown) as info:
        logged_in.place_market_order("SPY", 1, "buy", ref_id=ref)
    err = info.value
    assert isinstance(err, BrokerError)
    assert err.call == "place_market_order" and err.ref_id == ref
    assert why in err.reason and "NOT resubmitted" in err.reason
    assert len(_order_posts(rsps)) == 1
    lookups = [c for c in rsps.calls if c.request.method == "GET" and c.request.url.startswith(ORDERS_URL + "?")]
    assert len(lookups) == logged_in.config.order_lookup_attempts


def test_invalid_order_arguments(logged_in):
    with pytest.raises(ValueError):
        logged_in.place_market_order("SPY", 0, "buy")
    with pytest.raises(ValueError):
        logged_in.place_market_order("SPY", 1, "short")
    with pytest.raises(ValueError):
        logged_in.place_market_order("SPY", 1, "buy", ref_id="not-a-uuid")


def test_logout(logged_in):
    logged_in.logout()
    assert not logged_in.logged_in
    with pytest.raises(BrokerError):
        logged_in.get_quote("SPY")
