"""Hardened wrapper around ``robin_stocks`` — the only public way to reach it.

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

The work is split into small modules: :mod:`~maml_strategy.live.session`
(login, instrumented calls, read retries), :mod:`~maml_strategy.live.transport`
(the mounted HTTP adapter), :mod:`~maml_strategy.live.redact` (secret
redaction), :mod:`~maml_strategy.live.results` (checking robin_stocks results),
:mod:`~maml_strategy.live.parse` (quotes and bars) and
:mod:`~maml_strategy.live.models` (value types); import their names from there.
:func:`load_robinhood_ohlcv` is the one-call way to get validated Robinhood bars.

Example:
    >>> from maml_strategy.live.client import RobinhoodClient   # doctest: +SKIP
    >>> client = RobinhoodClient()                              # doctest: +SKIP
    >>> client.login()            # ROBINHOOD_USERNAME / _PASSWORD / _MFA_SECRET  # doctest: +SKIP
    >>> client.get_quote("SPY").last                            # doctest: +SKIP
    544.6
"""

from __future__ import annotations

import logging
import math
import uuid
from datetime import timedelta
from typing import Any

import pandas as pd

from maml_strategy.errors import BrokerError, DataError
from maml_strategy.live.config import LiveConfig
from maml_strategy.live.models import Account, OrderStateUnknown, Position, Quote
from maml_strategy.live.parse import from_robinhood_historicals, norm_symbol, parse_quote
from maml_strategy.live.redact import REDACTOR
from maml_strategy.live.results import check_dict, check_list, error_text
from maml_strategy.live.session import RobinhoodSession
from maml_strategy.live.transport import error_detail

__all__ = ["RobinhoodClient", "ORDERS_URL", "load_robinhood_ohlcv"]

logger = logging.getLogger(__name__)

#: Robinhood's stock orders endpoint (POST places, GET lists).
ORDERS_URL = "https://api.robinhood.com/orders/"


class RobinhoodClient(RobinhoodSession):
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

    @classmethod
    def from_env(cls, config: LiveConfig | None = None) -> "RobinhoodClient":
        """A client reading credentials from :data:`os.environ` at :meth:`login` time.

        Example:
            >>> client = RobinhoodClient.from_env(); client.login()  # doctest: +SKIP
        """
        return cls(config)

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
        symbol = norm_symbol(symbol)
        self._require_login(call)
        rs = self._rs
        data = self._read(call, lambda: rs.get_quotes(symbol), check_list(f"no quote for {symbol}"))
        item = next((d for d in data if isinstance(d, dict) and str(d.get("symbol", symbol)).upper() == symbol), None)
        if item is None:
            raise self._error(call, f"no quote for {symbol} in response")
        try:
            return parse_quote(item, self.now())
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
        symbol = norm_symbol(symbol)
        self._require_login(call)
        rs = self._rs
        data = self._read(
            call,
            lambda: rs.get_stock_historicals(symbol, interval=interval, span=span, bounds=bounds),
            check_list(f"no historical bars for {symbol} ({interval}/{span})"),
        )
        try:
            return from_robinhood_historicals(data, symbol, interval=interval)
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
        symbol = norm_symbol(symbol)
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
            detail = error_detail(response, REDACTOR) or f"HTTP {response.status_code}"
            raise self._error(call, detail)
        else:
            try:
                data = response.json()
            except ValueError:
                data = None
            err = error_text(data, expected_key="id")
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
        return self._read(call, lambda: rs.get_stock_order_info(order_id), check_dict(f"order {order_id}", "id"))

    def find_order_by_ref_id(self, ref_id: str) -> dict | None:
        """Finds a recent order by its ``ref_id`` (None if there is none).

        Scans orders updated in the last ``config.order_lookup_days`` days.
        """
        call = "find_order_by_ref_id"
        self._require_login(call)
        rs = self._rs
        start = (self.now() - timedelta(days=self.config.order_lookup_days)).strftime("%Y-%m-%d")
        orders = self._read(
            call, lambda: rs.get_all_stock_orders(start_date=start), check_list(None)
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
        err = error_text(data)
        if err:
            raise self._error(call, err)
        return data

    # ------------------------------------------------------------- account
    def get_positions(self) -> dict[str, Position]:
        """Open stock positions keyed by symbol."""
        call = "get_positions"
        self._require_login(call)
        rs = self._rs
        items = self._read(call, lambda: rs.get_open_stock_positions(), check_list(None))
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
            out[norm_symbol(symbol)] = Position(norm_symbol(symbol), qty, avg)
        return out

    def get_account(self) -> Account:
        """Cash, buying power and equity."""
        call = "get_account"
        self._require_login(call)
        rs = self._rs
        acct = self._read(call, lambda: rs.load_account_profile(), check_dict("account profile", "account_number"))
        port = self._read(call, lambda: rs.load_portfolio_profile(), check_dict("portfolio profile", "equity"))
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
                "load_account_profile", lambda: rs.load_account_profile(), check_dict("account profile", "url")
            )
            self._account_url = str(acct["url"])
        return self._account_url

    def _get_instrument_url(self, symbol: str) -> str:
        if symbol not in self._instrument_urls:
            rs = self._rs
            urls = self._read(
                "get_instruments_by_symbols",
                lambda: rs.get_instruments_by_symbols(symbol, info="url"),
                check_list(f"unknown symbol {symbol}"),
            )
            if not urls or not isinstance(urls[0], str):
                raise self._error("get_instruments_by_symbols", f"unknown symbol {symbol}")
            self._instrument_urls[symbol] = urls[0]
        return self._instrument_urls[symbol]

    def _symbol_for_instrument(self, url: str) -> str:
        if url not in self._symbols_by_instrument:
            rs = self._rs
            data = self._read(
                "get_instrument_by_url", lambda: rs.get_instrument_by_url(url), check_dict("instrument", "symbol")
            )
            self._symbols_by_instrument[url] = str(data["symbol"])
        return self._symbols_by_instrument[url]


def load_robinhood_ohlcv(
    symbol: str,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
    *,
    span: str = "5year",
    client: RobinhoodClient | None = None,
    config: LiveConfig | None = None,
) -> pd.DataFrame:
    """Validated daily Robinhood bars of ``symbol`` between ``start`` and ``end`` (inclusive).

    The bars go through the library's OHLCV validator
    (:func:`maml_strategy.data.validate.validate_ohlcv`), like every other source.

    Args:
        symbol: ticker.
        start: first date kept, or None.
        end: last date kept, or None.
        span: how far back Robinhood is asked (``year``, ``5year``...).
        client: a logged-in client; when None one is created and logged in with the
            ``ROBINHOOD_*`` environment variables.
        config: settings of the client created when ``client`` is None.

    Raises:
        DataError: no bars in the range.
        BrokerError / ConfigError: login or request failed.

    Example:
        >>> df = load_robinhood_ohlcv("SPY", "2024-01-01")  # doctest: +SKIP
    """
    if client is None:
        client = RobinhoodClient(config)
        client.login()
    df = client.get_historicals(symbol, interval="day", span=span)
    lo = pd.Timestamp(start) if start is not None else None
    hi = pd.Timestamp(end) if end is not None else None
    out = df.loc[lo:hi]
    if out.empty:
        raise DataError(f"[robinhood:{symbol}] no bars between {start} and {end}; Robinhood has "
                        f"{df.index[0].date()} .. {df.index[-1].date()} for span={span!r}")
    return out.copy()
