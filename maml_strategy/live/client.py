"""Hardened wrapper around ``robin_stocks`` — the only module that touches it.

``robin_stocks`` (unofficial, 3.x) reports most failures by printing and
returning ``None``, ``[None]`` or an error dict, sends GETs without a timeout,
and stores its session token in a world-readable pickle. :class:`RobinhoodClient`
turns every one of those into a :class:`~maml_strategy.errors.BrokerError`
naming the call and the reason, and adds:

* a default timeout on every HTTP request (a mounted :class:`requests.adapters.HTTPAdapter`),
* a client-side rate limit (default one request a second),
* retries with exponential back-off on 429 / 5xx / connection errors — reads only,
* order POSTs that are never retried blindly: an ambiguous outcome (timeout,
  connection error, 5xx, reply without ``id``) is resolved by looking the order
  up by its ``ref_id``; if it cannot be found, :class:`OrderStateUnknown` is raised
  and nothing is resubmitted,
* a session directory created ``0700`` with the token pickle ``0600``,
* redaction of the password, MFA secret and tokens from every log record and
  from everything robin_stocks prints.

Example:
    >>> from maml_strategy.live.client import RobinhoodClient   # doctest: +SKIP
    >>> client = RobinhoodClient()                              # doctest: +SKIP
    >>> client.login()            # ROBINHOOD_USERNAME / _PASSWORD / _MFA_SECRET  # doctest: +SKIP
    >>> client.get_quote("SPY").last                            # doctest: +SKIP
    544.6
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import os
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterator, Mapping, Protocol, runtime_checkable

import pandas as pd

from maml_strategy.errors import BrokerError, ConfigError, DataError
from maml_strategy.live.config import LiveConfig
from maml_strategy.live.ratelimit import RateLimiter
from maml_strategy.live.retry import RETRYABLE_STATUS, RetryPolicy

__all__ = [
    "Quote",
    "Account",
    "Position",
    "BrokerClient",
    "RobinhoodClient",
    "OrderStateUnknown",
    "SecretRedactor",
    "RedactingFilter",
    "REDACTOR",
    "ENV_USERNAME",
    "ENV_PASSWORD",
    "ENV_MFA_SECRET",
    "INSTALL_HINT",
    "ORDERS_URL",
]

logger = logging.getLogger(__name__)
_rs_logger = logging.getLogger("maml_strategy.live.robin_stocks")

ENV_USERNAME = "ROBINHOOD_USERNAME"
ENV_PASSWORD = "ROBINHOOD_PASSWORD"
ENV_MFA_SECRET = "ROBINHOOD_MFA_SECRET"
INSTALL_HINT = "robin_stocks is not installed; pip install maml-strategy[live]"
#: Robinhood's stock orders endpoint (POST places, GET lists).
ORDERS_URL = "https://api.robinhood.com/orders/"

_ERROR_KEYS = ("detail", "error", "non_field_errors", "errors", "error_description")


# --------------------------------------------------------------------------- data
@dataclass(frozen=True)
class Quote:
    """A top-of-book snapshot.

    Attributes:
        bid: best bid (falls back to ``last`` when Robinhood reports none).
        ask: best ask (falls back to ``last``).
        last: last regular-hours trade price.
        time: timezone-aware UTC time of the quote.
        halted: trading halted flag.
    """

    bid: float
    ask: float
    last: float
    time: datetime
    halted: bool = False


@dataclass(frozen=True)
class Account:
    """Cash, buying power and equity of the brokerage account."""

    account_number: str
    cash: float
    buying_power: float
    equity: float

    @property
    def last4(self) -> str:
        """The last four characters of the account number (for confirmations)."""
        return self.account_number[-4:]

    def __repr__(self) -> str:  # never print the whole account number
        return (
            f"Account(account_number='****{self.last4}', cash={self.cash:.2f}, "
            f"buying_power={self.buying_power:.2f}, equity={self.equity:.2f})"
        )


@dataclass(frozen=True)
class Position:
    """A held position (``quantity`` > 0 long)."""

    symbol: str
    quantity: float
    average_price: float


@runtime_checkable
class BrokerClient(Protocol):
    """The interface :class:`RobinhoodClient` and :class:`~maml_strategy.live.fake.FakeClient` share."""

    def login(self) -> None: ...
    def logout(self) -> None: ...
    def now(self) -> datetime: ...
    def get_quote(self, symbol: str) -> Quote: ...
    def get_historicals(self, symbol: str, interval: str = "day", span: str = "5year") -> pd.DataFrame: ...
    def place_market_order(self, symbol: str, qty: float, side: str, ref_id: str | None = None) -> dict: ...
    def get_order(self, order_id: str) -> dict: ...
    def find_order_by_ref_id(self, ref_id: str) -> dict | None: ...
    def cancel_order(self, order_id: str) -> dict: ...
    def get_positions(self) -> dict[str, Position]: ...
    def get_account(self) -> Account: ...


class OrderStateUnknown(BrokerError):
    """An order POST had an ambiguous outcome and the order could not be found by ``ref_id``.

    The order was NOT resubmitted. Callers must keep ``ref_id`` and look it up
    again later (:meth:`RobinhoodClient.find_order_by_ref_id`) before deciding
    that it was never placed.
    """

    def __init__(self, message: str, *, call: str = "", reason: str = "", ref_id: str = "") -> None:
        super().__init__(message, call=call, reason=reason)
        self.ref_id = ref_id


# ---------------------------------------------------------------------- redaction
class SecretRedactor:
    """Replaces registered secret strings with ``***`` in text.

    Example:
        >>> r = SecretRedactor(); r.add("hunter22")
        >>> r.redact("password=hunter22")
        'password=***'
    """

    MASK = "***"

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._lock = threading.Lock()
        self._installed = False

    def add(self, *values: object) -> None:
        """Registers secrets (strings shorter than 4 characters are ignored)."""
        with self._lock:
            for v in values:
                if isinstance(v, str) and len(v) >= 4:
                    self._secrets.add(v)

    def discard(self, *values: object) -> None:
        """Forgets secrets (e.g. after logout)."""
        with self._lock:
            for v in values:
                self._secrets.discard(v)  # type: ignore[arg-type]

    @property
    def active(self) -> bool:
        """True when at least one secret is registered."""
        return bool(self._secrets)

    def redact(self, text: str) -> str:
        """Returns ``text`` with every registered secret masked."""
        if not self._secrets or not text:
            return text
        for s in sorted(self._secrets, key=len, reverse=True):
            if s in text:
                text = text.replace(s, self.MASK)
        return text

    def redact_record(self, record: logging.LogRecord) -> logging.LogRecord:
        """Masks secrets in a log record's message and exception text, in place."""
        if not self._secrets:
            return record
        try:
            msg = record.getMessage()
        except Exception:  # a malformed record is logging's business, not ours
            return record
        red = self.redact(msg)
        if red != msg:
            record.msg = red
            record.args = None
        if record.exc_info and record.exc_info[0] is not None:
            text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
            record.exc_text = self.redact(text)
        elif record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return record

    def install(self) -> None:
        """Redacts every log record created from now on (all loggers), idempotently.

        Uses a log-record factory so records of third-party loggers (urllib3,
        robin_stocks, ...) and handlers added later are covered too, and attaches
        a :class:`RedactingFilter` to the root logger's current handlers.
        """
        with self._lock:
            if self._installed:
                return
            previous = logging.getLogRecordFactory()

            def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
                return self.redact_record(previous(*args, **kwargs))

            logging.setLogRecordFactory(factory)
            self._installed = True
        flt = RedactingFilter(self)
        for handler in logging.getLogger().handlers:
            if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                handler.addFilter(flt)


class RedactingFilter(logging.Filter):
    """Logging filter masking registered secrets (attach to handlers)."""

    def __init__(self, redactor: "SecretRedactor | None" = None) -> None:
        super().__init__()
        self._redactor = redactor if redactor is not None else REDACTOR

    def filter(self, record: logging.LogRecord) -> bool:  # noqa: A003 - logging API
        self._redactor.redact_record(record)
        return True


#: Process-wide redactor used by the client (secrets are process-wide too).
REDACTOR = SecretRedactor()


class _LogStream(io.TextIOBase):
    """File-like that turns robin_stocks' prints into redacted DEBUG log lines."""

    def __init__(self, log: logging.Logger, redactor: SecretRedactor) -> None:
        super().__init__()
        self._log = log
        self._redactor = redactor
        self._buf = ""

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:
        self._buf += s
        while "\n" in self._buf:
            line, self._buf = self._buf.split("\n", 1)
            if line.strip():
                self._log.debug("robin_stocks: %s", self._redactor.redact(line))
        return len(s)

    def flush(self) -> None:
        if self._buf.strip():
            self._log.debug("robin_stocks: %s", self._redactor.redact(self._buf))
        self._buf = ""


# --------------------------------------------------------------------- transport
@dataclass
class _HttpEvent:
    method: str
    url: str  # without query string
    status: int | None = None
    error: BaseException | None = None
    detail: str = ""
    retry_after: float | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None or (self.status is not None and self.status >= 400)


def _make_adapter_class() -> type:
    """Builds the guarded adapter class lazily (requests is a robin_stocks dependency)."""
    import requests
    from requests.adapters import HTTPAdapter

    class GuardedAdapter(HTTPAdapter):
        """HTTPAdapter adding a default timeout, a rate limit and a request trace."""

        def __init__(self, timeout: float, limiter: RateLimiter, redactor: SecretRedactor) -> None:
            super().__init__()
            self.default_timeout = timeout
            self.limiter = limiter
            self.redactor = redactor
            self.trace: list[_HttpEvent] = []

        def send(self, request: Any, **kwargs: Any) -> Any:  # type: ignore[override]
            if kwargs.get("timeout") is None:
                kwargs["timeout"] = self.default_timeout
            self.limiter.acquire()
            url = str(request.url).split("?", 1)[0]
            event = _HttpEvent(method=str(request.method), url=url)
            self.trace.append(event)
            try:
                response = super().send(request, **kwargs)
            except requests.RequestException as exc:
                event.error = exc
                raise
            event.status = response.status_code
            if response.status_code >= 400:
                event.detail = _error_detail(response, self.redactor)
                ra = response.headers.get("Retry-After")
                if ra:
                    try:
                        event.retry_after = float(ra)
                    except ValueError:
                        event.retry_after = None
            return response

    return GuardedAdapter


def _error_detail(response: Any, redactor: SecretRedactor) -> str:
    try:
        body = response.json()
    except Exception:
        return ""
    text = _error_text(body) or ""
    return redactor.redact(text)[:300]


def _error_text(result: Any, expected_key: str | None = None) -> str | None:
    """The error message of a Robinhood error dict, or None if ``result`` is not one."""
    if not isinstance(result, dict):
        return None
    if expected_key is not None and expected_key in result:
        return None
    for key in _ERROR_KEYS:
        if key in result and result[key] not in (None, "", [], {}):
            value = result[key]
            if isinstance(value, (list, tuple)):
                value = "; ".join(str(v) for v in value)
            return str(value)
    return None


@dataclass
class _Failure:
    reason: str
    retryable: bool = False
    ambiguous: bool = False  # for POSTs: the server may have acted
    retry_after: float | None = None


@dataclass
class _Outcome:
    result: Any = None
    failure: _Failure | None = None
    events: list[_HttpEvent] = field(default_factory=list)


# ------------------------------------------------------------------------ client
class RobinhoodClient:
    """Checked, rate-limited, retrying access to Robinhood through robin_stocks.

    Credentials come from the environment at :meth:`login` time
    (``ROBINHOOD_USERNAME``, ``ROBINHOOD_PASSWORD``, ``ROBINHOOD_MFA_SECRET`` —
    the base32 TOTP secret; a 6-digit code is derived with pyotp) and are never
    logged.

    Args:
        config: settings (timeouts, rate limit, retries, session directory).
        env: where to read credentials (default :data:`os.environ`).
        sleep: sleep function used for rate limiting and back-off (tests inject one).
        clock: monotonic clock for the rate limiter.
        now: wall clock returning an aware UTC datetime.

    Example:
        >>> client = RobinhoodClient(LiveConfig(min_request_interval_s=1.0))  # doctest: +SKIP
        >>> client.login()                                                     # doctest: +SKIP
        >>> df = client.get_historicals("SPY", interval="day", span="year")   # doctest: +SKIP
    """

    def __init__(
        self,
        config: LiveConfig | None = None,
        *,
        env: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.config = config or LiveConfig()
        self._env = env if env is not None else os.environ
        self._sleep = sleep
        self._now = now or (lambda: datetime.now(timezone.utc))
        self._limiter = RateLimiter(self.config.min_request_interval_s, clock=clock, sleep=sleep)
        self._retry = RetryPolicy(
            max_attempts=self.config.max_read_attempts,
            base_delay=self.config.backoff_base_s,
            max_delay=self.config.backoff_max_s,
        )
        self._lock = threading.RLock()
        self._rs_mod: Any = None
        self._adapter: Any = None
        self._logged_in = False
        self._account_url: str | None = None
        self._instrument_urls: dict[str, str] = {}
        self._symbols_by_instrument: dict[str, str] = {}
        self._tokens: list[str] = []
        REDACTOR.install()

    @classmethod
    def from_env(cls, config: LiveConfig | None = None) -> "RobinhoodClient":
        """A client reading credentials from :data:`os.environ` at :meth:`login` time.

        Example:
            >>> client = RobinhoodClient.from_env(); client.login()  # doctest: +SKIP
        """
        return cls(config)

    # ------------------------------------------------------------ plumbing
    @property
    def _rs(self) -> Any:
        """The ``robin_stocks.robinhood`` module, imported lazily and instrumented."""
        if self._rs_mod is None:
            try:
                import robin_stocks.robinhood as rs
            except ImportError:
                raise BrokerError(INSTALL_HINT, call="import", reason="missing dependency") from None
            adapter_cls = _make_adapter_class()
            self._adapter = adapter_cls(self.config.request_timeout_s, self._limiter, REDACTOR)
            session = rs.helper.SESSION
            session.mount("https://", self._adapter)
            session.mount("http://", self._adapter)
            rs.helper.set_output(_LogStream(_rs_logger, REDACTOR))
            self._rs_mod = rs
        return self._rs_mod

    @property
    def session_file(self) -> str:
        """Path of the robin_stocks session pickle."""
        return os.path.join(str(self.config.resolved_session_dir()), "robinhood.pickle")

    @property
    def logged_in(self) -> bool:
        """True after a successful :meth:`login`."""
        return self._logged_in

    @property
    def request_count(self) -> int:
        """HTTP requests seen by the last call (diagnostics)."""
        return len(self._adapter.trace) if self._adapter is not None else 0

    def now(self) -> datetime:
        """Current wall-clock time (aware, UTC)."""
        return self._now()

    def _error(self, call: str, reason: str, cls: type[BrokerError] = BrokerError, **kw: Any) -> BrokerError:
        reason = REDACTOR.redact(reason)
        return cls(f"Robinhood call {call} failed: {reason}", call=call, reason=reason, **kw)

    @contextlib.contextmanager
    def _quiet_stdout(self) -> Iterator[None]:
        """Routes bare ``print`` calls of robin_stocks (login/logout) to the redacting log."""
        stream = _LogStream(_rs_logger, REDACTOR)
        with contextlib.redirect_stdout(stream):
            try:
                yield
            finally:
                stream.flush()

    def _invoke(self, call: str, fn: Callable[[], Any]) -> _Outcome:
        """Runs one robin_stocks call and classifies what happened on the wire."""
        import requests

        self._rs  # noqa: B018 - imports and instruments robin_stocks
        adapter = self._adapter
        with self._lock:
            adapter.trace = []
            outcome = _Outcome()
            try:
                outcome.result = fn()
            except requests.exceptions.Timeout as exc:
                outcome.failure = _Failure(f"timeout ({type(exc).__name__})", retryable=True, ambiguous=True)
            except requests.exceptions.ConnectionError as exc:
                outcome.failure = _Failure(
                    f"connection error ({type(exc).__name__})", retryable=True, ambiguous=True
                )
            except requests.RequestException as exc:
                outcome.failure = _Failure(f"bad response ({type(exc).__name__}: {exc})")
            except BrokerError:
                raise
            except Exception as exc:  # robin_stocks raises bare Exception/KeyError/TypeError
                outcome.failure = _Failure(f"robin_stocks error ({type(exc).__name__}: {exc})")
            outcome.events = list(adapter.trace)
        if outcome.failure is None:
            bad = next((e for e in outcome.events if e.failed), None)
            if bad is not None:
                outcome.failure = _event_failure(bad)
        return outcome

    def _read(
        self,
        call: str,
        fn: Callable[[], Any],
        check: Callable[[Any], str | None],
    ) -> Any:
        """Runs an idempotent read with retries on 429/5xx/connection errors."""
        attempts = self._retry.max_attempts
        for attempt in range(1, attempts + 1):
            outcome = self._invoke(call, fn)
            failure = outcome.failure
            if failure is None:
                reason = check(outcome.result)
                if reason is None:
                    return outcome.result
                failure = _Failure(reason)
            if not failure.retryable or attempt == attempts:
                suffix = f" (after {attempt} attempts)" if attempt > 1 else ""
                raise self._error(call, failure.reason + suffix)
            delay = self._retry.delay(attempt, failure.retry_after)
            logger.warning("%s: %s; retry %d/%d in %.1fs", call, failure.reason, attempt, attempts - 1, delay)
            self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _require_login(self, call: str) -> None:
        if not self._logged_in:
            raise self._error(call, "not logged in; call login() first")

    # ---------------------------------------------------------------- auth
    def login(self) -> None:
        """Logs in with credentials from the environment (TOTP MFA via pyotp).

        The session token is stored in ``config.session_dir`` (directory 0700,
        file 0600) when ``config.store_session`` is true.

        Raises:
            ConfigError: a credential variable is missing.
            BrokerError: Robinhood refused the login or could not be reached.

        Example:
            >>> RobinhoodClient().login()  # doctest: +SKIP
        """
        username = self._env.get(ENV_USERNAME, "")
        password = self._env.get(ENV_PASSWORD, "")
        mfa_secret = self._env.get(ENV_MFA_SECRET, "")
        REDACTOR.add(password, mfa_secret)
        missing = [n for n, v in ((ENV_USERNAME, username), (ENV_PASSWORD, password)) if not v]
        if missing:
            raise ConfigError(f"set the environment variable(s) {', '.join(missing)} to log in to Robinhood")
        mfa_code: str | None = None
        if mfa_secret:
            try:
                import pyotp
            except ImportError:
                raise BrokerError(INSTALL_HINT.replace("robin_stocks", "pyotp"), call="login", reason="missing dependency") from None
            try:
                mfa_code = pyotp.TOTP(mfa_secret.replace(" ", "")).now()
            except Exception:
                raise ConfigError(f"{ENV_MFA_SECRET} is not a valid base32 TOTP secret") from None
            REDACTOR.add(mfa_code)
        else:
            logger.warning("%s not set; logging in without an MFA code", ENV_MFA_SECRET)

        session_dir = self.config.resolved_session_dir()
        _secure_dir(str(session_dir))
        if os.path.exists(self.session_file):
            os.chmod(self.session_file, 0o600)
        rs = self._rs

        def _do_login() -> Any:
            old_umask = os.umask(0o077)
            try:
                with self._quiet_stdout():
                    return rs.login(
                        username=username,
                        password=password,
                        store_session=self.config.store_session,
                        mfa_code=mfa_code,
                        pickle_path=str(session_dir),
                    )
            finally:
                os.umask(old_umask)

        outcome = self._invoke("login", _do_login)
        if os.path.exists(self.session_file):
            os.chmod(self.session_file, 0o600)
        data = outcome.result
        if isinstance(data, dict):
            self._tokens = [str(data.get("access_token") or ""), str(data.get("refresh_token") or "")]
            REDACTOR.add(*self._tokens)
        if not isinstance(data, dict) or not data.get("access_token"):
            reason = "login refused"
            failed = next((e for e in outcome.events if e.failed), None)
            if failed is not None:
                reason = _event_failure(failed).reason
            elif outcome.failure is not None:
                reason = outcome.failure.reason
            if isinstance(data, dict) and _error_text(data):
                reason = _error_text(data) or reason
            raise self._error("login", reason)
        self._logged_in = True
        logger.info("logged in to Robinhood (session dir %s)", session_dir)

    def logout(self) -> None:
        """Logs out and clears the session header (the stored session file is kept)."""
        if not self._logged_in:
            return
        rs = self._rs
        with self._quiet_stdout():
            try:
                rs.logout()
            except Exception as exc:  # logout is best effort; state is reset below anyway
                logger.debug("robin_stocks logout raised %s", type(exc).__name__)
        self._logged_in = False
        self._account_url = None
        logger.info("logged out of Robinhood")

    # ----------------------------------------------------------- market data
    def get_quote(self, symbol: str) -> Quote:
        """Latest quote for ``symbol``.

        Raises:
            BrokerError: no/invalid quote (unknown symbol, HTTP error after retries).

        Example:
            >>> client.get_quote("SPY")  # doctest: +SKIP
            Quote(bid=544.5, ask=544.6, last=544.55, time=datetime(...), halted=False)
        """
        call = "get_quote"
        symbol = _norm_symbol(symbol)
        self._require_login(call)
        rs = self._rs
        data = self._read(call, lambda: rs.get_quotes(symbol), _check_list(f"no quote for {symbol}"))
        item = next((d for d in data if isinstance(d, dict) and str(d.get("symbol", symbol)).upper() == symbol), None)
        if item is None:
            raise self._error(call, f"no quote for {symbol} in response")
        try:
            return _parse_quote(item, self.now())
        except (TypeError, ValueError, KeyError) as exc:
            raise self._error(call, f"invalid quote for {symbol}: {exc}") from None

    def get_historicals(
        self, symbol: str, interval: str = "day", span: str = "5year", bounds: str = "regular"
    ) -> pd.DataFrame:
        """Historical OHLCV bars as a validated float frame.

        Args:
            symbol: ticker.
            interval: ``5minute``, ``10minute``, ``hour``, ``day`` or ``week``.
            span: ``day``, ``week``, ``month``, ``3month``, ``year`` or ``5year``.
            bounds: ``regular`` (default), ``extended`` or ``trading``.

        Returns:
            Frame indexed by a tz-naive ascending DatetimeIndex (dates for daily
            bars, New York wall time for intraday bars) with float64 columns
            ``open, high, low, close, volume``. Interpolated bars are dropped.

        Example:
            >>> client.get_historicals("SPY", "day", "year").tail(1)  # doctest: +SKIP
        """
        call = "get_historicals"
        symbol = _norm_symbol(symbol)
        self._require_login(call)
        rs = self._rs
        data = self._read(
            call,
            lambda: rs.get_stock_historicals(symbol, interval=interval, span=span, bounds=bounds),
            _check_list(f"no historical bars for {symbol} ({interval}/{span})"),
        )
        try:
            return _historicals_frame(data, interval, source=f"robinhood:{symbol}")
        except (DataError, KeyError, TypeError, ValueError) as exc:
            raise self._error(call, f"invalid historical bars for {symbol}: {exc}") from None

    # ---------------------------------------------------------------- orders
    def place_market_order(
        self, symbol: str, qty: float, side: str, ref_id: str | None = None, *, time_in_force: str = "gfd"
    ) -> dict:
        """Places a market order exactly once (never blindly retried).

        Builds the same payload as ``robin_stocks.robinhood.order`` (regular
        hours: buys are 5 %-collared limit orders, as the Robinhood app sends
        them) but with a caller-controlled ``ref_id``. An ambiguous outcome
        (timeout, connection error, 5xx/429, reply without ``id``) is resolved
        by looking the order up by ``ref_id``.

        Args:
            symbol: ticker.
            qty: shares (> 0).
            side: ``"buy"`` or ``"sell"``.
            ref_id: UUID idempotency key; generated when omitted. Use a
                deterministic one per strategy decision.
            time_in_force: ``"gfd"`` (default) or ``"gtc"``.

        Returns:
            The order dict (has ``id``, ``ref_id``, ``state``).

        Raises:
            BrokerError: Robinhood rejected the order (reason e.g. ``Not enough buying power.``).
            OrderStateUnknown: the outcome was ambiguous and no order with that
                ``ref_id`` was found; nothing was resubmitted.

        Example:
            >>> client.place_market_order("SPY", 1, "buy", ref_id=str(uuid.uuid4()))  # doctest: +SKIP
        """
        call = "place_market_order"
        symbol = _norm_symbol(symbol)
        if side not in ("buy", "sell"):
            raise ValueError(f"side must be 'buy' or 'sell', got {side!r}")
        if not (isinstance(qty, (int, float)) and math.isfinite(qty) and qty > 0):
            raise ValueError(f"qty must be a positive number, got {qty!r}")
        ref_id = ref_id or str(uuid.uuid4())
        try:
            uuid.UUID(ref_id)
        except ValueError:
            raise ValueError(f"ref_id must be a UUID string, got {ref_id!r}") from None
        self._require_login(call)
        rs = self._rs
        account_url = self._get_account_url()
        instrument_url = self._get_instrument_url(symbol)
        quote = self.get_quote(symbol)
        quantity: float | int = int(qty) if float(qty).is_integer() else float(qty)
        payload: dict[str, Any] = {
            "account": account_url,
            "instrument": instrument_url,
            "symbol": symbol,
            "price": rs.helper.round_price(quote.ask if side == "buy" else quote.bid),
            "ask_price": rs.helper.round_price(quote.ask),
            "bid_ask_timestamp": self.now().strftime("%Y-%m-%d %H:%M:%S.%f"),
            "bid_price": rs.helper.round_price(quote.bid),
            "quantity": quantity,
            "ref_id": ref_id,
            "type": "market",
            "time_in_force": time_in_force,
            "trigger": "immediate",
            "side": side,
            "market_hours": "regular_hours",
            "extended_hours": False,
            "order_form_version": 4,
        }
        if side == "buy":  # what robin_stocks/the app send for a regular-hours market buy
            payload["preset_percent_limit"] = "0.05"
            payload["type"] = "limit"
        else:
            del payload["price"]
        timeout = self.config.request_timeout_s
        logger.info("placing %s %s %s (ref_id %s)", side, quantity, symbol, ref_id)
        outcome = self._invoke(
            call, lambda: rs.helper.request_post(ORDERS_URL, payload, timeout=timeout, jsonify_data=False)
        )
        response = outcome.result
        post_error = next((e for e in outcome.events if e.method == "POST" and e.error is not None), None)
        why: str | None = None
        if post_error is not None or response is None:
            why = (
                f"order POST failed ({type(post_error.error).__name__})"
                if post_error is not None
                else (outcome.failure.reason if outcome.failure else "order POST returned nothing")
            )
        elif response.status_code == 429 or response.status_code >= 500:
            why = f"order POST returned HTTP {response.status_code}"
        elif response.status_code >= 400:
            detail = _error_detail(response, REDACTOR) or f"HTTP {response.status_code}"
            raise self._error(call, detail)
        else:
            try:
                data = response.json()
            except ValueError:
                data = None
            err = _error_text(data, expected_key="id")
            if err:
                raise self._error(call, err)
            if isinstance(data, dict) and data.get("id"):
                return data
            why = "order response has no id"
        return self._resolve_ambiguous(call, ref_id, why)

    def _resolve_ambiguous(self, call: str, ref_id: str, why: str) -> dict:
        logger.warning("%s: %s; looking the order up by ref_id %s (not resubmitting)", call, why, ref_id)
        last_error: str = ""
        for i in range(self.config.order_lookup_attempts):
            if i:
                self._sleep(self.config.order_lookup_wait_s)
            try:
                found = self.find_order_by_ref_id(ref_id)
            except BrokerError as exc:
                last_error = exc.reason
                continue
            if found is not None:
                logger.warning("%s: order %s with ref_id %s exists; treated as placed", call, found.get("id"), ref_id)
                return found
        extra = f"; last look-up error: {last_error}" if last_error else ""
        raise self._error(
            call,
            f"{why}; no order with ref_id {ref_id} found after "
            f"{self.config.order_lookup_attempts} look-up(s){extra}; NOT resubmitted",
            OrderStateUnknown,
            ref_id=ref_id,
        )

    def get_order(self, order_id: str) -> dict:
        """The current state of an order (``state``, ``cumulative_quantity``, ``executions``...)."""
        call = "get_order"
        self._require_login(call)
        rs = self._rs
        return self._read(call, lambda: rs.get_stock_order_info(order_id), _check_dict(f"order {order_id}", "id"))

    def find_order_by_ref_id(self, ref_id: str) -> dict | None:
        """Finds a recent order by its ``ref_id`` (None if there is none).

        Scans orders updated in the last ``config.order_lookup_days`` days.
        """
        call = "find_order_by_ref_id"
        self._require_login(call)
        rs = self._rs
        start = (self.now() - timedelta(days=self.config.order_lookup_days)).strftime("%Y-%m-%d")
        orders = self._read(
            call, lambda: rs.get_all_stock_orders(start_date=start), _check_list(None)
        )
        for o in orders:
            if isinstance(o, dict) and o.get("ref_id") == ref_id:
                return o
        return None

    def cancel_order(self, order_id: str) -> dict:
        """Requests cancellation of an order (one POST, not retried).

        Returns:
            Robinhood's reply (usually ``{}``); check the order's state afterwards.
        """
        call = "cancel_order"
        self._require_login(call)
        rs = self._rs
        outcome = self._invoke(call, lambda: rs.cancel_stock_order(order_id))
        if outcome.failure is not None:
            raise self._error(call, outcome.failure.reason)
        data = outcome.result
        if data is None:
            raise self._error(call, "no response (robin_stocks returned None)")
        err = _error_text(data)
        if err:
            raise self._error(call, err)
        return data

    # ------------------------------------------------------------- account
    def get_positions(self) -> dict[str, Position]:
        """Open stock positions keyed by symbol."""
        call = "get_positions"
        self._require_login(call)
        rs = self._rs
        items = self._read(call, lambda: rs.get_open_stock_positions(), _check_list(None))
        out: dict[str, Position] = {}
        for item in items:
            if not isinstance(item, dict):
                raise self._error(call, "malformed position entry")
            try:
                qty = float(item["quantity"])
                avg = float(item.get("average_buy_price") or 0.0)
            except (KeyError, TypeError, ValueError) as exc:
                raise self._error(call, f"malformed position entry: {exc}") from None
            if qty == 0:
                continue
            symbol = item.get("symbol") or self._symbol_for_instrument(str(item.get("instrument", "")))
            out[_norm_symbol(symbol)] = Position(_norm_symbol(symbol), qty, avg)
        return out

    def get_account(self) -> Account:
        """Cash, buying power and equity."""
        call = "get_account"
        self._require_login(call)
        rs = self._rs
        acct = self._read(call, lambda: rs.load_account_profile(), _check_dict("account profile", "account_number"))
        port = self._read(call, lambda: rs.load_portfolio_profile(), _check_dict("portfolio profile", "equity"))
        try:
            account = Account(
                account_number=str(acct["account_number"]),
                cash=float(acct.get("cash") or acct.get("portfolio_cash") or 0.0),
                buying_power=float(acct.get("buying_power") or 0.0),
                equity=float(port.get("equity") or port.get("market_value") or 0.0),
            )
        except (TypeError, ValueError) as exc:
            raise self._error(call, f"malformed account data: {exc}") from None
        if acct.get("url"):
            self._account_url = str(acct["url"])
        return account

    # ------------------------------------------------------------- helpers
    def _get_account_url(self) -> str:
        if self._account_url is None:
            rs = self._rs
            acct = self._read(
                "load_account_profile", lambda: rs.load_account_profile(), _check_dict("account profile", "url")
            )
            self._account_url = str(acct["url"])
        return self._account_url

    def _get_instrument_url(self, symbol: str) -> str:
        if symbol not in self._instrument_urls:
            rs = self._rs
            urls = self._read(
                "get_instruments_by_symbols",
                lambda: rs.get_instruments_by_symbols(symbol, info="url"),
                _check_list(f"unknown symbol {symbol}"),
            )
            if not urls or not isinstance(urls[0], str):
                raise self._error("get_instruments_by_symbols", f"unknown symbol {symbol}")
            self._instrument_urls[symbol] = urls[0]
        return self._instrument_urls[symbol]

    def _symbol_for_instrument(self, url: str) -> str:
        if url not in self._symbols_by_instrument:
            rs = self._rs
            data = self._read(
                "get_instrument_by_url", lambda: rs.get_instrument_by_url(url), _check_dict("instrument", "symbol")
            )
            self._symbols_by_instrument[url] = str(data["symbol"])
        return self._symbols_by_instrument[url]


# ------------------------------------------------------------------- functions
def _norm_symbol(symbol: Any) -> str:
    if not isinstance(symbol, str) or not symbol.strip():
        raise ValueError(f"symbol must be a non-empty string, got {symbol!r}")
    return symbol.strip().upper()


def _event_failure(event: _HttpEvent) -> _Failure:
    if event.error is not None:
        import requests

        timeout = isinstance(event.error, requests.exceptions.Timeout)
        kind = "timeout" if timeout else "connection error"
        return _Failure(
            f"{kind} on {event.method} {event.url} ({type(event.error).__name__})", retryable=True, ambiguous=True
        )
    status = int(event.status or 0)
    detail = f": {event.detail}" if event.detail else ""
    return _Failure(
        f"HTTP {status} on {event.method} {event.url}{detail}",
        retryable=status in RETRYABLE_STATUS,
        ambiguous=status in RETRYABLE_STATUS,
        retry_after=event.retry_after,
    )


def _check_list(empty_reason: str | None) -> Callable[[Any], str | None]:
    """Result check for list-returning calls; ``empty_reason`` None allows an empty list."""

    def check(result: Any) -> str | None:
        if result is None:
            return "no data (robin_stocks returned None)"
        if isinstance(result, dict):
            return _error_text(result) or "unexpected dict response"
        if not isinstance(result, list):
            return f"unexpected response type {type(result).__name__}"
        if result == [None] or any(item is None for item in result):
            return "no data (robin_stocks returned [None])"
        if not result and empty_reason is not None:
            return empty_reason
        return None

    return check


def _check_dict(what: str, required: str) -> Callable[[Any], str | None]:
    def check(result: Any) -> str | None:
        if result is None:
            return f"no {what} (robin_stocks returned None)"
        if result == [None]:
            return f"no {what} (robin_stocks returned [None])"
        if not isinstance(result, dict):
            return f"unexpected {what} response type {type(result).__name__}"
        err = _error_text(result, expected_key=required)
        if err:
            return err
        if not result.get(required):
            return f"{what} response has no {required!r}"
        return None

    return check


def _float_or_nan(v: Any) -> float:
    if v is None or v == "":
        return float("nan")
    return float(v)


def _parse_quote(item: Mapping[str, Any], now: datetime) -> Quote:
    last = _float_or_nan(item.get("last_trade_price"))
    if not math.isfinite(last) or last <= 0:
        raise ValueError(f"last_trade_price {item.get('last_trade_price')!r}")
    bid = _float_or_nan(item.get("bid_price"))
    ask = _float_or_nan(item.get("ask_price"))
    bid = bid if math.isfinite(bid) and bid > 0 else last
    ask = ask if math.isfinite(ask) and ask > 0 else last
    ts = item.get("updated_at")
    if ts:
        t = pd.Timestamp(ts)
        t = t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
        when = t.to_pydatetime()
    else:
        when = now
    return Quote(bid=bid, ask=ask, last=last, time=when, halted=bool(item.get("trading_halted", False)))


def _historicals_frame(rows: list[dict], interval: str, source: str) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    if "interpolated" in df.columns:
        df = df[~df["interpolated"].fillna(False).astype(bool)]
    ts = pd.to_datetime(df["begins_at"], utc=True)
    if interval in ("day", "week"):
        index = pd.DatetimeIndex(ts.dt.tz_localize(None).dt.normalize())
    else:
        index = pd.DatetimeIndex(ts.dt.tz_convert("America/New_York").dt.tz_localize(None))
    out = pd.DataFrame(
        {
            "open": df["open_price"].to_numpy(),
            "high": df["high_price"].to_numpy(),
            "low": df["low_price"].to_numpy(),
            "close": df["close_price"].to_numpy(),
            "volume": df["volume"].to_numpy(),
        },
        index=index,
    )
    out.index.name = "date"
    return validate_frame(out, source=source)


def validate_frame(df: pd.DataFrame, source: str) -> pd.DataFrame:
    """Converts string prices to float64 and validates the OHLCV frame.

    Delegates to ``maml_strategy.data.validate_ohlcv`` when available; falls
    back to a local check (numeric, no NaN, positive prices, sorted unique index).

    Raises:
        DataError: the frame is malformed.
    """
    cols = ["open", "high", "low", "close", "volume"]
    out = df.copy()
    for c in cols:
        out[c] = pd.to_numeric(out[c], errors="coerce").astype("float64")
    try:
        from maml_strategy.data import validate_ohlcv  # type: ignore[attr-defined]
    except ImportError:
        validate_ohlcv = None
    if validate_ohlcv is not None:
        return validate_ohlcv(out, source=source, coerce_quietly=True)
    if out.empty:
        raise DataError(f"{source}: no rows")
    bad = out[cols].isna().any(axis=1)
    if bad.any():
        raise DataError(f"{source}: {int(bad.sum())} row(s) with missing/non-numeric values, first {out.index[bad][0]}")
    if (out[["open", "high", "low", "close"]] <= 0).any().any():
        raise DataError(f"{source}: non-positive prices")
    out = out[~out.index.duplicated(keep="last")].sort_index()
    return out


def _secure_dir(path: str) -> None:
    """Creates ``path`` (and parents) and restricts it to the owner (0700)."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    os.chmod(path, 0o700)
