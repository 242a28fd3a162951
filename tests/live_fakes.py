"""Test doubles of the live layer (imported as ``from tests.live_fakes import ...``).

* :class:`FakeBrokerClient` — a :class:`~maml_strategy.live.replay.ReplayClient`
  that also simulates a Robinhood brokerage (orders filled at the next quote,
  optionally in partial fills; cash and positions of a cash account), for
  live-mode broker tests.
* :class:`RobinhoodHTTPStub` — a stateful stand-in for the Robinhood HTTP API on a
  ``responses.RequestsMock``, so the real client and robin_stocks run offline.
"""

from __future__ import annotations

import copy
import math
import uuid
from typing import Any

import numpy as np
import pandas as pd

from maml_strategy.errors import BrokerError
from maml_strategy.live.models import Account, Position, Quote
from maml_strategy.live.replay import ReplayClient

LOOSE = dict(kill_switch_path="", max_order_notional=1e9, max_position_notional=1e9, max_orders_per_day=100)


def make_bars(n: int = 40, start: str = "2024-01-01", seed: int = 1, drift: float = 0.0,
              open_noise: float = 0.004, wick: float = 0.01) -> pd.DataFrame:
    """Random daily OHLCV bars on business days."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(drift, 0.01, n)))
    open_ = close * np.exp(rng.normal(0, open_noise, n))
    high = np.maximum(open_, close) * (1 + rng.uniform(0, wick, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, wick, n))
    vol = rng.integers(1_000_000, 2_000_000, n).astype(float)
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close, "volume": vol},
                        index=pd.bdate_range(start, periods=n))


class FakeBrokerClient(ReplayClient):
    """Replay client with a simulated brokerage (the live broker's counterpart in tests).

    Args:
        cash: starting cash of the simulated account.
        partial_fills: number of quotes over which a market order is filled.
        account_number: simulated account number.
        **kwargs: :class:`ReplayClient` arguments.
    """

    def __init__(self, bars: pd.DataFrame, *, cash: float = 100_000.0, partial_fills: int = 1,
                 account_number: str = "FAKE00001234", **kwargs: Any) -> None:
        super().__init__(bars, **kwargs)
        if partial_fills < 1:
            raise ValueError(f"partial_fills must be >= 1, got {partial_fills}")
        self.partial_fills = int(partial_fills)
        self.account_number = account_number
        self.cash = float(cash)
        self.positions: dict[str, float] = {}
        self.avg_price: dict[str, float] = {}
        self.orders: dict[str, dict[str, Any]] = {}
        self.order_posts = 0
        self._last_quote: Quote | None = None

    def _on_quote(self, quote: Quote) -> None:
        self._last_quote = quote
        self._process_orders(quote)

    def advance_to_end(self) -> None:
        """Marks every quote as served."""
        self._tick = len(self._ticks) - 1
        if self._ticks:
            self._now = self._ticks[-1][0]

    def place_market_order(self, symbol: str, qty: float, side: str, ref_id: str | None = None) -> dict:
        """Accepts a market order; it fills at the next quote(s)."""
        self.calls.append("place_market_order")
        sym = self._check_symbol("place_market_order", symbol)
        if side not in ("buy", "sell"):
            raise ValueError(f"side must be 'buy' or 'sell', got {side!r}")
        if not (math.isfinite(qty) and qty > 0):
            raise ValueError(f"qty must be positive, got {qty!r}")
        self.order_posts += 1
        ref_id = ref_id or str(uuid.uuid4())
        existing = self.find_order_by_ref_id(ref_id)
        if existing is not None:  # Robinhood de-duplicates on ref_id
            return existing
        last = self._last_quote
        if side == "buy" and last is not None and qty * last.ask > self.cash:
            raise BrokerError(
                "Robinhood call place_market_order failed: Not enough buying power.",
                call="place_market_order",
                reason="Not enough buying power.",
            )
        if side == "sell" and qty > self.positions.get(sym, 0.0) + 1e-9:
            raise BrokerError(
                "Robinhood call place_market_order failed: Not enough shares to sell.",
                call="place_market_order",
                reason="Not enough shares to sell.",
            )
        oid = str(uuid.uuid4())
        order = {
            "id": oid,
            "ref_id": ref_id,
            "symbol": sym,
            "side": side,
            "type": "market",
            "quantity": f"{qty:.8f}",
            "cumulative_quantity": "0.00000000",
            "average_price": None,
            "state": "queued",
            "executions": [],
            "created_at": self._now.isoformat(),
            "updated_at": self._now.isoformat(),
        }
        self.orders[oid] = order
        return copy.deepcopy(order)

    def _process_orders(self, q: Quote) -> None:
        for order in self.orders.values():
            if order["state"] not in ("queued", "confirmed", "partially_filled"):
                continue
            qty = float(order["quantity"])
            done = float(order["cumulative_quantity"])
            chunk = min(qty - done, qty / self.partial_fills)
            if len(order["executions"]) == self.partial_fills - 1:
                chunk = qty - done
            price = q.ask if order["side"] == "buy" else q.bid
            sym = order["symbol"]
            signed = chunk if order["side"] == "buy" else -chunk
            pos = self.positions.get(sym, 0.0)
            if signed > 0:
                self.avg_price[sym] = (self.avg_price.get(sym, 0.0) * pos + price * signed) / (pos + signed)
            self.positions[sym] = pos + signed
            self.cash -= signed * price
            order["executions"].append(
                {"id": str(uuid.uuid4()), "price": f"{price:.6f}", "quantity": f"{chunk:.8f}", "timestamp": q.time.isoformat()}
            )
            new_done = done + chunk
            notional = sum(float(e["price"]) * float(e["quantity"]) for e in order["executions"])
            order["cumulative_quantity"] = f"{new_done:.8f}"
            order["average_price"] = f"{notional / new_done:.6f}"
            order["state"] = "filled" if new_done >= qty - 1e-9 else "partially_filled"
            order["updated_at"] = q.time.isoformat()

    def get_order(self, order_id: str) -> dict:
        """The simulated order ``order_id``."""
        self.calls.append("get_order")
        if order_id not in self.orders:
            raise BrokerError(f"no order {order_id}", call="get_order", reason="HTTP 404")
        return copy.deepcopy(self.orders[order_id])

    def find_order_by_ref_id(self, ref_id: str) -> dict | None:
        """The simulated order with ``ref_id``, or None."""
        for o in self.orders.values():
            if o["ref_id"] == ref_id:
                return copy.deepcopy(o)
        return None

    def cancel_order(self, order_id: str) -> dict:
        """Cancels an unfilled (or partly filled) simulated order."""
        self.calls.append("cancel_order")
        order = self.orders.get(order_id)
        if order is None:
            raise BrokerError(f"no order {order_id}", call="cancel_order", reason="HTTP 404")
        if order["state"] in ("queued", "confirmed", "partially_filled"):
            order["state"] = "cancelled"
        return {}

    def get_positions(self) -> dict[str, Position]:
        """Simulated open positions."""
        self.calls.append("get_positions")
        return {s: Position(s, q, self.avg_price.get(s, 0.0)) for s, q in self.positions.items() if abs(q) > 1e-12}

    def get_account(self) -> Account:
        """Simulated account (equity marks positions at the last quote)."""
        self.calls.append("get_account")
        last = self._last_quote
        mark = last.last if last is not None else float(self._bars["close"].iloc[0])
        equity = self.cash + sum(q * mark for q in self.positions.values())
        return Account(self.account_number, self.cash, max(self.cash, 0.0), equity)


class RobinhoodHTTPStub:
    """Stateful stand-in for the Robinhood HTTP API, for offline tests of the real client.

    Registers callbacks on a ``responses.RequestsMock`` (the ``responses``
    package, a dev dependency) for every endpoint
    :class:`~maml_strategy.live.client.RobinhoodClient` reaches through
    robin_stocks: ``oauth2/token``, quotes, historicals, accounts, portfolios,
    instruments, orders (POST, list, detail, cancel) and positions. Orders are
    kept in memory; :meth:`fill` books executions.

    ``post_behavior`` changes the next order POSTs: ``"timeout_after_create"``
    (the order is created but the reply is lost), ``"timeout"`` (nothing is
    created), ``"connection_error"``, an ``int`` HTTP status (e.g. 500), or a
    ``(status, body)`` tuple (e.g. ``(400, {"detail": "Not enough buying power."})``).

    Example:
        >>> import responses                                          # doctest: +SKIP
        >>> with responses.RequestsMock() as rsps:                    # doctest: +SKIP
        ...     stub = RobinhoodHTTPStub(rsps, price=100.0)
        ...     client.login(); client.get_quote("SPY").last
        100.0
    """

    BASE = "https://api.robinhood.com"

    def __init__(
        self,
        rsps: Any,
        *,
        symbol: str = "SPY",
        price: float = 100.0,
        account_number: str = "5QR00001234",
        cash: float = 10_000.0,
        access_token: str = "stub-access-token-0123456789",
        refresh_token: str = "stub-refresh-token-9876543210",
    ) -> None:
        import re

        import requests

        self._requests = requests
        self.rsps = rsps
        self.symbol = symbol.upper()
        self.price = float(price)
        self.account_number = account_number
        self.cash = float(cash)
        self.access_token = access_token
        self.refresh_token = refresh_token
        self.orders: dict[str, dict[str, Any]] = {}
        self.order_posts: list[dict[str, Any]] = []
        self.login_requests: list[dict[str, Any]] = []
        self.post_behavior: Any = None
        self.quote_behavior: list[Any] = []  # queued GET /quotes/ overrides: status, (status, body) or exception
        self.login_status = 200
        self.positions: dict[str, float] = {}
        self.historicals: list[dict[str, Any]] = [
            {"begins_at": f"2024-07-0{d}T00:00:00Z", "open_price": f"{price:.4f}", "high_price": f"{price + 1:.4f}",
             "low_price": f"{price - 1:.4f}", "close_price": f"{price + 0.5:.4f}", "volume": 1000 + d,
             "session": "reg", "interpolated": False}
            for d in range(1, 6)
        ]
        b = self.BASE
        add = rsps.add_callback
        add("POST", f"{b}/oauth2/token/", callback=self._login)
        add("GET", f"{b}/quotes/", callback=self._quotes)
        add("GET", f"{b}/quotes/historicals/", callback=self._historicals)
        add("GET", f"{b}/accounts/", callback=self._accounts)
        add("GET", f"{b}/portfolios/", callback=self._portfolios)
        add("GET", f"{b}/instruments/", callback=self._instruments)
        add("POST", f"{b}/orders/", callback=self._place)
        add("GET", f"{b}/orders/", callback=self._list_orders)
        add("GET", re.compile(rf"{re.escape(b)}/orders/([0-9a-f-]+)/$"), callback=self._get_order)
        add("POST", re.compile(rf"{re.escape(b)}/orders/([0-9a-f-]+)/cancel/$"), callback=self._cancel)
        add("GET", f"{b}/positions/", callback=self._positions)

    # ---------------------------------------------------------------- helpers
    @staticmethod
    def _json(status: int, body: Any) -> tuple[int, dict[str, str], str]:
        import json

        return status, {"Content-Type": "application/json"}, json.dumps(body)

    @property
    def instrument_url(self) -> str:
        return f"{self.BASE}/instruments/00000000-0000-0000-0000-00000000a5e5/"

    @property
    def account_url(self) -> str:
        return f"{self.BASE}/accounts/{self.account_number}/"

    def fill(self, order_id: str, qty: float | None = None, price: float | None = None) -> None:
        """Books an execution of ``qty`` (default: the rest) at ``price`` (default: stub price)."""
        o = self.orders[order_id]
        total = float(o["quantity"])
        done = float(o["cumulative_quantity"])
        q = total - done if qty is None else float(qty)
        p = self.price if price is None else float(price)
        o["executions"].append(
            {"id": str(uuid.uuid4()), "price": f"{p:.4f}", "quantity": f"{q:.8f}", "timestamp": "2024-07-08T14:30:00Z"}
        )
        done += q
        notional = sum(float(e["price"]) * float(e["quantity"]) for e in o["executions"])
        o["cumulative_quantity"] = f"{done:.8f}"
        o["average_price"] = f"{notional / done:.4f}"
        o["state"] = "filled" if done >= total - 1e-9 else "partially_filled"
        sign = 1.0 if o["side"] == "buy" else -1.0
        self.positions[self.symbol] = self.positions.get(self.symbol, 0.0) + sign * q
        self.cash -= sign * q * p

    # -------------------------------------------------------------- callbacks
    def _login(self, request: Any) -> Any:
        from urllib.parse import parse_qs

        body = request.body.decode() if isinstance(request.body, bytes) else (request.body or "")
        self.login_requests.append({k: v[0] for k, v in parse_qs(body).items()})
        if self.login_status != 200:
            return self._json(self.login_status, {"detail": "Unable to log in with provided credentials."})
        return self._json(200, {"access_token": self.access_token, "refresh_token": self.refresh_token,
                                "token_type": "Bearer", "expires_in": 86400, "scope": "internal"})

    def _quotes(self, request: Any) -> Any:
        if self.quote_behavior:
            b = self.quote_behavior.pop(0)
            if isinstance(b, Exception):
                return b
            if isinstance(b, tuple):
                return self._json(int(b[0]), b[1])
            return self._json(int(b), {"detail": "stubbed failure"})
        p = self.price
        return self._json(200, {"results": [{
            "symbol": self.symbol, "ask_price": f"{p + 0.01:.6f}", "bid_price": f"{p - 0.01:.6f}",
            "last_trade_price": f"{p:.6f}", "last_extended_hours_trade_price": None,
            "updated_at": "2024-07-08T14:30:00Z", "trading_halted": False, "instrument": self.instrument_url,
        }]})

    def _historicals(self, request: Any) -> Any:
        return self._json(200, {"results": [{"symbol": self.symbol, "historicals": self.historicals}]})

    def _accounts(self, request: Any) -> Any:
        return self._json(200, {"results": [{"url": self.account_url, "account_number": self.account_number,
                                             "cash": f"{self.cash:.2f}", "buying_power": f"{self.cash:.2f}"}],
                                "next": None})

    def _portfolios(self, request: Any) -> Any:
        equity = self.cash + sum(q * self.price for q in self.positions.values())
        return self._json(200, {"results": [{"equity": f"{equity:.2f}", "market_value": f"{equity - self.cash:.2f}",
                                             "extended_hours_equity": None}], "next": None})

    def _instruments(self, request: Any) -> Any:
        from urllib.parse import parse_qs, urlparse

        sym = parse_qs(urlparse(request.url).query).get("symbol", [""])[0].upper()
        if sym != self.symbol:
            return self._json(200, {"results": [], "next": None})
        return self._json(200, {"results": [{"url": self.instrument_url, "symbol": self.symbol,
                                             "id": "00000000-0000-0000-0000-00000000a5e5"}], "next": None})

    def _place(self, request: Any) -> Any:
        from urllib.parse import parse_qs

        body = request.body.decode() if isinstance(request.body, bytes) else (request.body or "")
        payload = {k: v[0] for k, v in parse_qs(body).items()}
        self.order_posts.append(payload)
        behavior = self.post_behavior
        if behavior == "timeout":
            return self._requests.exceptions.ReadTimeout("stub: read timed out")
        if behavior == "connection_error":
            return self._requests.exceptions.ConnectionError("stub: connection reset")
        if isinstance(behavior, int):
            return self._json(behavior, {"detail": f"stub HTTP {behavior}"})
        if isinstance(behavior, tuple):
            return self._json(int(behavior[0]), behavior[1])
        oid = str(uuid.uuid4())
        order = {
            "id": oid, "ref_id": payload.get("ref_id"), "url": f"{self.BASE}/orders/{oid}/",
            "instrument": payload.get("instrument"), "symbol": payload.get("symbol"), "side": payload.get("side"),
            "type": payload.get("type"), "quantity": f"{float(payload.get('quantity', 0)):.8f}",
            "cumulative_quantity": "0.00000000", "average_price": None, "state": "queued", "executions": [],
            "fees": "0.00", "reject_reason": None, "updated_at": "2024-07-08T14:30:00Z",
        }
        self.orders[oid] = order
        if behavior == "timeout_after_create":
            return self._requests.exceptions.ReadTimeout("stub: read timed out after the order was created")
        if behavior == "missing_id":
            return self._json(201, {k: v for k, v in order.items() if k != "id"})
        return self._json(201, order)

    def _list_orders(self, request: Any) -> Any:
        return self._json(200, {"results": list(self.orders.values()), "next": None})

    def _get_order(self, request: Any) -> Any:
        oid = request.url.rstrip("/").split("/")[-1]
        if oid not in self.orders:
            return self._json(404, {"detail": "Not found."})
        return self._json(200, self.orders[oid])

    def _cancel(self, request: Any) -> Any:
        oid = request.url.rstrip("/").split("/")[-2]
        o = self.orders.get(oid)
        if o is None:
            return self._json(404, {"detail": "Not found."})
        if o["state"] in ("filled", "cancelled"):
            return self._json(400, {"detail": "Order cannot be cancelled."})
        o["state"] = "cancelled"
        return self._json(200, {})

    def _positions(self, request: Any) -> Any:
        results = [{"instrument": self.instrument_url, "symbol": s, "quantity": f"{q:.8f}",
                    "average_buy_price": f"{self.price:.4f}"} for s, q in self.positions.items() if q]
        return self._json(200, {"results": results, "next": None})
