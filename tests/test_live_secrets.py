"""No password, MFA secret or token may reach any log line, stdout/stderr, error or journal."""

from __future__ import annotations

import logging
import os
import pickle
import stat
import uuid

import pyotp
import pytest
import responses

from maml_strategy.errors import BrokerError
from maml_strategy.live.client import RobinhoodClient
from maml_strategy.live.redact import REDACTOR, RedactingFilter
from maml_strategy.live.config import LiveConfig
from tests.live_fakes import RobinhoodHTTPStub

PASSWORD = "Sup3r-Secret-Pa55word"
MFA = pyotp.random_base32()
ACCESS = "acc3ss-t0ken-abcdefghijklmnop"
REFRESH = "r3fresh-t0ken-qrstuvwxyz0123"
ENV = {"ROBINHOOD_USERNAME": "u@example.com", "ROBINHOOD_PASSWORD": PASSWORD, "ROBINHOOD_MFA_SECRET": MFA}


@pytest.fixture
def all_loggers_at_debug(caplog):
    caplog.set_level(logging.DEBUG)  # root
    for name in ("urllib3", "requests", "robin_stocks", "responses", "maml_strategy"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def test_no_secret_in_logs_stdout_or_errors(tmp_path, all_loggers_at_debug, capsys):
    caplog = all_loggers_at_debug
    errors: list[str] = []
    client = RobinhoodClient(
        LiveConfig(session_dir=str(tmp_path / "s"), min_request_interval_s=0.0, backoff_base_s=0.0,
                   order_lookup_wait_s=0.0),
        env=ENV,
        sleep=lambda s: None,
    )
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        stub = RobinhoodHTTPStub(rsps, access_token=ACCESS, refresh_token=REFRESH)
        stub.login_status = 400
        with pytest.raises(BrokerError) as failed:
            client.login()
        errors.append(str(failed.value) + failed.value.reason)
        stub.login_status = 200
        client.login()
        mfa_code = stub.login_requests[-1]["mfa_code"]
        client.get_quote("SPY")
        client.get_historicals("SPY", span="year")
        client.get_account()
        client.get_positions()
        order = client.place_market_order("SPY", 1, "buy", ref_id=str(uuid.uuid4()))
        client.get_order(order["id"])
        stub.post_behavior = "timeout"
        with pytest.raises(BrokerError) as unknown:
            client.place_market_order("SPY", 1, "buy")
        errors.append(str(unknown.value))
        stub.quote_behavior = [500] * 5
        with pytest.raises(BrokerError) as e5:
            client.get_quote("SPY")
        errors.append(str(e5.value))
        # even a careless log call of ours (or a library's) is masked
        logging.getLogger("urllib3").debug("Authorization: Bearer %s password=%s", ACCESS, PASSWORD)
        client.logout()
    # the request really carried the secrets (so the test is meaningful)
    assert stub.login_requests[-1]["password"] == PASSWORD

    captured = capsys.readouterr()
    text = "\n".join(r.getMessage() for r in caplog.records) + caplog.text
    assert len(caplog.records) > 5
    assert "robin_stocks: Starting login process" in text  # robin_stocks' prints were captured to the log
    for secret in (PASSWORD, MFA, ACCESS, REFRESH, mfa_code):
        assert secret not in text, "secret leaked to a log line"
        assert all(secret not in e for e in errors), "secret leaked into an error"
        assert secret not in captured.err
        assert secret not in captured.out
    # robin_stocks' prints (it prints errors and progress) went to the redacting log, not stdout
    assert captured.out == ""


def test_session_pickle_is_owner_only(tmp_path):
    client = RobinhoodClient(LiveConfig(session_dir=str(tmp_path / "s"), min_request_interval_s=0.0), env=ENV)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        RobinhoodHTTPStub(rsps, access_token=ACCESS, refresh_token=REFRESH)
        client.login()
    mode = stat.S_IMODE(os.stat(client.session_file).st_mode)
    assert mode == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "s").st_mode) == 0o700
    with open(client.session_file, "rb") as fh:  # it is robin_stocks' own format, reused on the next login
        assert pickle.load(fh)["access_token"] == ACCESS


def test_redacting_filter_masks_exceptions_too():
    REDACTOR.add("filter-secret-123")
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "value %s", ("filter-secret-123",), None)
    try:
        raise RuntimeError("boom filter-secret-123")
    except RuntimeError:
        import sys

        record.exc_info = sys.exc_info()
    assert RedactingFilter().filter(record)
    assert "filter-secret-123" not in record.getMessage()
    assert "filter-secret-123" not in (record.exc_text or "")
    assert "***" in record.getMessage()
