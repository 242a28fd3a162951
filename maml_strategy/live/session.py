"""The logged-in, instrumented robin_stocks session under :class:`RobinhoodClient`.

:class:`RobinhoodSession` owns everything between the client's methods and the
wire: the lazy, instrumented import of ``robin_stocks`` (adapter mounted, prints
redacted), login/logout with credentials from the environment and a private
session directory, and the call runner that classifies each robin_stocks call
(:meth:`RobinhoodSession._invoke`) and retries idempotent reads with back-off
(:meth:`RobinhoodSession._read`).

Example:
    >>> from maml_strategy.live.client import RobinhoodClient   # doctest: +SKIP
    >>> RobinhoodClient().login()  # ROBINHOOD_USERNAME / _PASSWORD / _MFA_SECRET  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import datetime, timezone
from typing import Any, Callable, ContextManager, Mapping

from maml_strategy.errors import BrokerError, ConfigError
from maml_strategy.live.config import LiveConfig
from maml_strategy.live.ratelimit import RateLimiter
from maml_strategy.live.redact import REDACTOR, LogStream, capture_prints
from maml_strategy.live.results import error_text
from maml_strategy.live.retry import RetryPolicy
from maml_strategy.live.transport import Failure, Outcome, event_failure, make_adapter_class

__all__ = [
    "RobinhoodSession",
    "ENV_USERNAME",
    "ENV_PASSWORD",
    "ENV_MFA_SECRET",
    "INSTALL_HINT",
    "secure_dir",
]

# The client's log names stay those of maml_strategy.live.client, where this code used to live.
logger = logging.getLogger("maml_strategy.live.client")
_rs_logger = logging.getLogger("maml_strategy.live.robin_stocks")

ENV_USERNAME = "ROBINHOOD_USERNAME"
ENV_PASSWORD = "ROBINHOOD_PASSWORD"
ENV_MFA_SECRET = "ROBINHOOD_MFA_SECRET"
INSTALL_HINT = "robin_stocks is not installed; pip install maml-strategy[live]"


class RobinhoodSession:
    """Login, instrumented robin_stocks calls and read retries (base of :class:`RobinhoodClient`).

    Credentials come from the environment at :meth:`login` time
    (``ROBINHOOD_USERNAME``, ``ROBINHOOD_PASSWORD``, ``ROBINHOOD_MFA_SECRET``)
    and are registered with the process-wide redactor before anything can log them.
    The constructor's arguments are documented on :class:`RobinhoodClient`
    (``config``, and the injectable ``env``, ``sleep``, ``clock`` and ``now``).
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
        # called with (kind, text) on "LOGIN", "THROTTLED" (a read backs off) and "ERROR";
        # RobinhoodStore turns these into notify_store messages
        self.on_event: Callable[[str, str], None] | None = None
        REDACTOR.install()

    # ------------------------------------------------------------ plumbing
    @property
    def _rs(self) -> Any:
        """The ``robin_stocks.robinhood`` module, imported lazily and instrumented."""
        if self._rs_mod is None:
            try:
                import robin_stocks.robinhood as rs
            except ImportError:
                raise BrokerError(INSTALL_HINT, call="import", reason="missing dependency") from None
            adapter_cls = make_adapter_class()
            self._adapter = adapter_cls(self.config.request_timeout_s, self._limiter, REDACTOR)
            session = rs.helper.SESSION
            session.mount("https://", self._adapter)
            session.mount("http://", self._adapter)
            rs.helper.set_output(LogStream(_rs_logger, REDACTOR))
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

    def _event(self, kind: str, text: str) -> None:
        if self.on_event is not None:
            self.on_event(kind, REDACTOR.redact(text))

    def _error(self, call: str, reason: str, cls: type[BrokerError] = BrokerError, **kw: Any) -> BrokerError:
        reason = REDACTOR.redact(reason)
        self._event("ERROR", f"{call}: {reason}")
        return cls(f"Robinhood call {call} failed: {reason}", call=call, reason=reason, **kw)

    def _quiet_stdout(self) -> ContextManager[None]:
        """Routes bare ``print`` calls of robin_stocks (login/logout) to the redacting log."""
        return capture_prints(_rs_logger, REDACTOR)

    def _invoke(self, call: str, fn: Callable[[], Any]) -> Outcome:
        """Runs one robin_stocks call and classifies what happened on the wire."""
        import requests

        self._rs  # noqa: B018 - imports and instruments robin_stocks
        adapter = self._adapter
        with self._lock:
            adapter.trace = []
            outcome = Outcome()
            try:
                outcome.result = fn()
            except requests.exceptions.Timeout as exc:
                outcome.failure = Failure(f"timeout ({type(exc).__name__})", retryable=True, ambiguous=True)
            except requests.exceptions.ConnectionError as exc:
                outcome.failure = Failure(
                    f"connection error ({type(exc).__name__})", retryable=True, ambiguous=True
                )
            except requests.RequestException as exc:
                outcome.failure = Failure(f"bad response ({type(exc).__name__}: {exc})")
            except BrokerError:
                raise
            except Exception as exc:  # robin_stocks raises bare Exception/KeyError/TypeError
                outcome.failure = Failure(f"robin_stocks error ({type(exc).__name__}: {exc})")
            outcome.events = list(adapter.trace)
        if outcome.failure is None:
            bad = next((e for e in outcome.events if e.failed), None)
            if bad is not None:
                outcome.failure = event_failure(bad)
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
                failure = Failure(reason)
            if not failure.retryable or attempt == attempts:
                suffix = f" (after {attempt} attempts)" if attempt > 1 else ""
                raise self._error(call, failure.reason + suffix)
            delay = self._retry.delay(attempt, failure.retry_after)
            logger.warning("%s: %s; retry %d/%d in %.1fs", call, failure.reason, attempt, attempts - 1, delay)
            self._event("THROTTLED", f"{call}: {failure.reason}; retry {attempt}/{attempts - 1} in {delay:.1f}s")
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
        secure_dir(str(session_dir))
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
                reason = event_failure(failed).reason
            elif outcome.failure is not None:
                reason = outcome.failure.reason
            if isinstance(data, dict) and error_text(data):
                reason = error_text(data) or reason
            raise self._error("login", reason)
        self._logged_in = True
        logger.info("logged in to Robinhood (session dir %s)", session_dir)
        self._event("LOGIN", "logged in to Robinhood")

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


def secure_dir(path: str) -> None:
    """Creates ``path`` (and parents) and restricts it to the owner (0700)."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    os.chmod(path, 0o700)
