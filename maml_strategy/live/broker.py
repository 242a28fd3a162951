"""Backtrader broker for Robinhood: paper mode (default) and live mode.

PAPER mode never sends an order: a market order fills locally at the next
quote seen after submission (ask for buys, bid for sells) with a commission of
``commission_bps`` of traded value, and cash/value/positions follow BackBroker
semantics for a cash stock account.

LIVE mode (needs a :class:`~maml_strategy.live.safety.LiveAuthorization`)
sends market orders through the client with deterministic ``ref_id`` s, tracks
them to completion (partial fills included) and refreshes cash, value and
positions on a timer — cerebro asks for them several times per bar, so they
are never fetched per call.

Both modes journal orders (by ``ref_id`` and state), fills, positions and cash
to disk atomically (:class:`~maml_strategy.live.journal.Journal`); a restarted
broker resumes the same state, reconciles open orders by ``ref_id`` and never
resubmits an order whose ``ref_id`` is already journaled. Every order passes
:class:`~maml_strategy.live.safety.SafetyRails`; a refused order becomes a
``Rejected`` order with ``order.info.reject_reason`` and a log line, never an
exception. Orders submitted on backfill (warm-up) bars are rejected too.

Example:
    >>> cerebro.setbroker(RobinhoodBroker(client=fake, config=LiveConfig(),   # doctest: +SKIP
    ...                                   journal="paper_journal.json", check_market_hours=False))
"""

from __future__ import annotations

import collections
import logging
import math
import time
import uuid
from datetime import datetime, timezone
from typing import Any, Callable

import backtrader as bt
from backtrader.comminfo import CommInfoBase
from backtrader.order import BuyOrder, Order, SellOrder

from maml_strategy.errors import BrokerError, ConfigError
from maml_strategy.live.client import OrderStateUnknown, Quote
from maml_strategy.live.config import LiveConfig
from maml_strategy.live.journal import OPEN_STATES, Journal
from maml_strategy.live.safety import LiveAuthorization, SafetyRails, TradingMode, to_new_york

__all__ = ["RobinhoodBroker", "decision_ref_id"]

logger = logging.getLogger(__name__)

_REF_NAMESPACE = uuid.UUID("6f1c7a52-93a5-4c4e-9d0b-3f9f3c1d2a10")
_RH_FILLED = {"filled"}
_RH_DEAD = {"cancelled", "canceled", "rejected", "failed"}


def decision_ref_id(strategy_id: str, symbol: str, bar: str, seq: int) -> str:
    """Deterministic UUID for the ``seq``-th order of a strategy on ``symbol`` at bar ``bar``.

    The same decision after a restart yields the same ``ref_id``, which the
    journal (and Robinhood) use to avoid a duplicate order.

    Example:
        >>> decision_ref_id("maml", "SPY", "2024-07-01T00:00:00", 0) == decision_ref_id("maml", "SPY", "2024-07-01T00:00:00", 0)
        True
    """
    return str(uuid.uuid5(_REF_NAMESPACE, f"{strategy_id}|{symbol.upper()}|{bar}|{seq}"))


def _fill_dt(stamp: Any) -> float | None:
    """backtrader date number of a fill time (New York wall clock), or None if unparseable."""
    if not stamp:
        return None
    try:
        when = datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return float(bt.date2num(to_new_york(when).replace(tzinfo=None)))


class RobinhoodBroker(bt.BrokerBase):
    """Paper/live Robinhood broker with journal and safety rails.

    Params:
        client: RobinhoodClient or FakeClient (quotes for rails; orders in live mode).
        config: :class:`LiveConfig` (commission, limits, journal path, refresh timer).
        mode: ``"paper"`` (default) or ``"live"``.
        authorization: required for live mode (from ``authorize_real_orders``).
        journal: a :class:`Journal`, a path, or None for ``config.journal_path``.
        check_market_hours: override of ``config.check_market_hours`` (False for replays).
        clock: callable returning the aware current time (default ``client.now``).
        monotonic: clock for the refresh timer.
        strategy_id: namespace of deterministic ref_ids.
        unknown_order_timeout: seconds an order may stay unfound by ref_id before it is
            declared never placed (live).
    """

    params = (
        ("client", None),
        ("config", None),
        ("mode", "paper"),
        ("authorization", None),
        ("journal", None),
        ("check_market_hours", None),
        ("clock", None),
        ("monotonic", time.monotonic),
        ("strategy_id", "maml"),
        ("unknown_order_timeout", 300.0),
    )

    def __init__(self) -> None:
        self.cfg: LiveConfig = self.p.config or LiveConfig()
        super().__init__()
        try:
            self.mode = TradingMode(self.p.mode)
        except ValueError:
            raise ConfigError(f"mode must be 'paper' or 'live', got {self.p.mode!r}") from None
        if self.mode is TradingMode.LIVE:
            if not self.cfg.allow_real_orders:
                raise ConfigError("live mode needs 'allow_real_orders: true' in the live config")
            if not isinstance(self.p.authorization, LiveAuthorization):
                raise ConfigError(
                    "live mode needs a LiveAuthorization from authorize_real_orders() "
                    "(--live, allow_real_orders and a confirmation)"
                )
            if self.p.client is None:
                raise ConfigError("live mode needs a client")
        if isinstance(self.p.journal, Journal):
            self.journal = self.p.journal
        else:
            self.journal = Journal(self.p.journal or self.cfg.journal_path or None)
        self.journal.bind_mode(self.mode.value)
        self.rails = SafetyRails(self.cfg, check_market_hours=self.p.check_market_hours)
        self.notifs: collections.deque[Order] = collections.deque()
        self.positions: dict[str, bt.Position] = collections.defaultdict(bt.Position)
        self._datas: dict[str, Any] = {}
        self._bt_orders: dict[str, Order] = {}
        self._submit_seq: dict[str, int] = {}
        self._decision_seq: dict[tuple[str, str], int] = collections.defaultdict(int)
        self._first_unknown: dict[str, float] = {}
        self._next_refresh = 0.0
        self._stopping = False
        self._flattening = False
        self._value_cache: float | None = None
        self._last_value: float | None = None
        self._restore_from_journal()
        self.startingcash = self.getcash()

    # ------------------------------------------------------------ bt plumbing
    def init(self) -> None:
        """Installs the bps commission as the default commission scheme."""
        bps = float((self.p.config or LiveConfig()).commission_bps)
        if None not in self.comminfo:
            self.comminfo = {
                None: CommInfoBase(
                    commission=bps / 1e4, commtype=CommInfoBase.COMM_PERC, percabs=True, stocklike=True
                )
            }

    def start(self) -> None:
        """Reconciles journaled orders and (live) loads account state."""
        super().start()
        if self.mode is TradingMode.LIVE:
            self._track_orders(force=True)
            self._refresh_account()
        self._next_refresh = self.p.monotonic() + self.cfg.refresh_interval_s
        self.startingcash = self.getvalue()  # backtrader's writers/analyzers read this

    def stop(self) -> None:
        """Saves the journal."""
        self.journal.save()
        super().stop()

    def get_notification(self) -> Order | None:
        """Next pending order notification (cerebro drains these every cycle)."""
        try:
            return self.notifs.popleft()
        except IndexError:
            return None

    def notify(self, order: Order) -> None:
        """Queues a snapshot of ``order`` for the strategy."""
        self.notifs.append(order.clone())

    def getcash(self) -> float:
        """Cached cash (paper: simulated; live: refreshed on the timer)."""
        return float(self.journal.cash or 0.0)

    get_cash = getcash

    def getvalue(self, datas: Any = None) -> float:
        """Cash plus marked positions (live: account equity from the last refresh)."""
        if datas is not None:
            return sum(self._position_value(self._symbol(d)) for d in datas)
        if self.mode is TradingMode.LIVE and self._value_cache is not None:
            return self._value_cache
        return self.getcash() + sum(self._position_value(s) for s in self.positions)

    get_value = getvalue

    def getposition(self, data: Any) -> bt.Position:
        """The position in ``data``'s symbol (cached)."""
        symbol = self._register(data)
        return self.positions[symbol]

    def get_orders_open(self, safe: bool = False) -> list[Order]:
        """Open orders submitted through this broker instance."""
        return [
            o for ref, o in self._bt_orders.items() if self.journal.orders.get(ref, {}).get("status") in OPEN_STATES
        ]

    def status(self) -> dict[str, Any]:
        """Snapshot for operators: mode, why orders are blocked, counters, cash, value."""
        now = self._now()
        return {
            "mode": self.mode.value,
            "blocked": self.blocked_reason(now),
            "halt_reason": self.journal.halt_reason,
            "orders_today": self.journal.day.get("orders", 0),
            "cash": self.getcash(),
            "value": self.getvalue(),
            "open_orders": sorted(r for r, o in self.journal.orders.items() if o.get("status") in OPEN_STATES),
        }

    def blocked_reason(self, now: datetime | None = None) -> str | None:
        """Why new orders would be refused right now (kill switch, halt, market hours), or None."""
        now = now or self._now()
        return (
            self.rails.kill_switch_reason()
            or (f"trading halted: {self.journal.halt_reason}" if self.journal.halt_reason else None)
            or self.rails.market_closed_reason(now)
        )

    def register_data(self, data: Any) -> None:
        """Makes ``data`` (its quotes) known to the broker before any order."""
        self._register(data)

    # ----------------------------------------------------------------- orders
    def buy(self, owner: Any, data: Any, size: float, price: float | None = None, plimit: float | None = None,
            exectype: int | None = None, valid: Any = None, tradeid: int = 0, oco: Any = None,
            trailamount: float | None = None, trailpercent: float | None = None, **kwargs: Any) -> Order:
        """Submits a market buy (other order types are rejected)."""
        order = BuyOrder(owner=owner, data=data, size=size, price=price, pricelimit=plimit,
                         exectype=exectype, valid=valid, tradeid=tradeid,
                         trailamount=trailamount, trailpercent=trailpercent)
        return self._submit(order, kwargs)

    def sell(self, owner: Any, data: Any, size: float, price: float | None = None, plimit: float | None = None,
             exectype: int | None = None, valid: Any = None, tradeid: int = 0, oco: Any = None,
             trailamount: float | None = None, trailpercent: float | None = None, **kwargs: Any) -> Order:
        """Submits a market sell (other order types are rejected)."""
        order = SellOrder(owner=owner, data=data, size=size, price=price, pricelimit=plimit,
                          exectype=exectype, valid=valid, tradeid=tradeid,
                          trailamount=trailamount, trailpercent=trailpercent)
        return self._submit(order, kwargs)

    def cancel(self, order: Order) -> None:
        """Cancels an open order (paper: immediately; live: via Robinhood, confirmed by tracking)."""
        ref = order.info.get("ref_id") if order.info else None
        rec = self.journal.orders.get(ref or "")
        if rec is None or rec.get("status") not in OPEN_STATES:
            return
        if self.mode is TradingMode.PAPER:
            self.journal.upsert_order(ref, status="cancelled")
            bt_order = self._bt_orders.get(ref, order)
            bt_order.cancel()
            self.notify(bt_order)
            return
        if not rec.get("broker_id"):
            logger.warning("cannot cancel %s yet: not confirmed by Robinhood", ref)
            return
        try:
            self.p.client.cancel_order(rec["broker_id"])
        except BrokerError as exc:
            logger.warning("cancel of %s failed: %s", ref, exc)
            return
        self._next_refresh = 0.0  # confirm the cancellation at the next cycle

    def _submit(self, order: Order, kwargs: dict[str, Any]) -> Order:
        data = order.data
        symbol = self._register(data)
        side = "buy" if order.isbuy() else "sell"
        size = abs(float(order.size))
        bar = self._bar_key(data)
        ref_id = kwargs.pop("ref_id", None)
        flatten = bool(kwargs.pop("_flatten", False))
        if ref_id is None:
            key = (symbol, bar)
            ref_id = decision_ref_id(self.p.strategy_id, symbol, bar, self._decision_seq[key])
            self._decision_seq[key] += 1
        order.addinfo(ref_id=ref_id, **kwargs)

        existing = self.journal.orders.get(ref_id)
        if existing is not None:
            return self._adopt(order, existing)

        now = self._now()
        self._roll_day(now)
        reason = None
        if order.exectype not in (None, Order.Market):
            reason = f"only market orders are supported (got {order.getordername()})"
        elif getattr(data, "delivering_backfill", False) and not flatten:
            reason = "warm-up (backfill) bar; orders are only sent on live bars"
        elif self.journal.halt_reason and not flatten:
            reason = f"trading halted: {self.journal.halt_reason}"
        if reason is None:
            signed = size if side == "buy" else -size
            reason = self.rails.check_order(
                symbol=symbol,
                size=signed,
                price=self._ref_price(symbol, data, side),
                position_size=self.positions[symbol].size + self._pending_size(symbol),
                orders_today=int(self.journal.day.get("orders", 0)),
                now=now,
                flatten=flatten,
            )
        record = dict(
            symbol=symbol, side=side, size=size, filled=0.0, avg_price=None, commission=0.0,
            broker_id=None, created=now.isoformat(), bar=bar, reason=None, flatten=flatten,
        )
        self._bt_orders[ref_id] = order
        if reason is not None:
            self.journal.upsert_order(ref_id, status="rejected", **{**record, "reason": reason})
            return self._reject(order, reason, quiet="warm-up" in reason)

        if not flatten:
            self.journal.day["orders"] = int(self.journal.day.get("orders", 0)) + 1
        if self.mode is TradingMode.PAPER:
            self.journal.upsert_order(ref_id, status="accepted", **record)
            order.submit(self)
            self.notify(order)
            order.accept(self)
            self.notify(order)
            latest = self._latest_quote(symbol)
            self._submit_seq[ref_id] = latest[0] if latest else 0
            logger.info("paper order %s %g %s accepted (ref_id %s)", side, size, symbol, ref_id)
            return order
        return self._submit_live(order, ref_id, record)

    def _submit_live(self, order: Order, ref_id: str, record: dict[str, Any]) -> Order:
        # journal first: if the process dies during the POST, the restart looks the ref_id up
        self.journal.upsert_order(ref_id, status="submitting", **record)
        order.submit(self)
        self.notify(order)
        try:
            placed = self.p.client.place_market_order(record["symbol"], record["size"], record["side"], ref_id=ref_id)
        except OrderStateUnknown as exc:
            self.journal.upsert_order(ref_id, status="unknown", reason=exc.reason)
            self._first_unknown[ref_id] = self.p.monotonic()
            logger.error("order %s state unknown (%s); will look it up again, never resubmit", ref_id, exc.reason)
            return order
        except BrokerError as exc:
            self.journal.upsert_order(ref_id, status="rejected", reason=exc.reason or str(exc))
            return self._reject(order, f"Robinhood rejected the order: {exc.reason or exc}")
        self.journal.upsert_order(ref_id, status="accepted", broker_id=placed.get("id"))
        order.accept(self)
        self.notify(order)
        logger.info("live order %s %g %s accepted: id %s (ref_id %s)", record["side"], record["size"],
                    record["symbol"], placed.get("id"), ref_id)
        self._apply_remote(ref_id, placed)
        self._next_refresh = min(self._next_refresh, self.p.monotonic() + min(5.0, self.cfg.refresh_interval_s))
        return order

    def _adopt(self, order: Order, rec: dict[str, Any]) -> Order:
        """Binds a re-made decision to its journaled order instead of resubmitting it."""
        ref_id = rec["ref_id"]
        status = rec.get("status")
        logger.info("order %s already journaled (%s); not resubmitting", ref_id, status)
        self._bt_orders[ref_id] = order
        if status == "rejected":
            return self._reject(order, rec.get("reason") or "rejected earlier", quiet=True)
        order.submit(self)
        self.notify(order)
        if status in ("submitting", "unknown"):
            return order
        order.accept(self)
        self.notify(order)
        fills = [f for f in self.journal.fills if f.get("ref_id") == ref_id]
        for f in fills:
            self._execute_order(order, f, position=None)
        if status == "cancelled":
            order.cancel()
            self.notify(order)
        elif status == "margin":
            order.margin()
            self.notify(order)
        return order

    def _reject(self, order: Order, reason: str, quiet: bool = False) -> Order:
        order.addinfo(reject_reason=reason)
        order.reject(self)
        self.notify(order)
        (logger.debug if quiet else logger.warning)(
            "order %s %s rejected: %s", order.info.get("ref_id"), self._symbol(order.data), reason
        )
        return order

    # -------------------------------------------------------------------- next
    def next(self) -> None:
        """Called by cerebro every cycle: paper fills, live tracking, daily-loss rail."""
        now = self._now()
        self._roll_day(now)
        if self.mode is TradingMode.PAPER:
            self._paper_fills()
        elif self.p.monotonic() >= self._next_refresh:
            self._next_refresh = self.p.monotonic() + self.cfg.refresh_interval_s
            self._track_orders()
            self._refresh_account()
        self._check_daily_loss()

    def _paper_fills(self) -> None:
        for ref_id, rec in list(self.journal.orders.items()):
            if rec.get("status") != "accepted":
                continue
            latest = self._latest_quote(rec["symbol"])
            if latest is None:
                continue
            seq, quote = latest
            if seq <= self._submit_seq.get(ref_id, 0) and ref_id in self._submit_seq:
                continue
            price = quote.ask if rec["side"] == "buy" else quote.bid
            remaining = rec["size"] - rec.get("filled", 0.0)
            signed = remaining if rec["side"] == "buy" else -remaining
            comm = abs(signed) * price * self.cfg.commission_bps / 1e4
            order = self._order_for(ref_id, rec)
            if signed > 0 and signed * price + comm > self.getcash() + 1e-9:
                self.journal.upsert_order(ref_id, status="margin", reason="not enough cash")
                if order is not None:
                    order.addinfo(reject_reason="not enough cash")
                    order.margin()
                    self.notify(order)
                logger.warning("paper order %s: not enough cash (needs %.2f, has %.2f)",
                               ref_id, signed * price + comm, self.getcash())
                continue
            fill = {
                "fill_id": f"{ref_id}:{len([f for f in self.journal.fills if f.get('ref_id') == ref_id])}",
                "ref_id": ref_id, "symbol": rec["symbol"], "size": signed, "price": price,
                "commission": comm, "time": quote.time.isoformat(),
            }
            self._record_fill(ref_id, rec, fill, order, cash_delta=-(signed * price) - comm)

    # ------------------------------------------------------------ live tracking
    def _track_orders(self, force: bool = False) -> None:
        client = self.p.client
        for ref_id, rec in list(self.journal.orders.items()):
            status = rec.get("status")
            if status not in OPEN_STATES:
                continue
            try:
                if not rec.get("broker_id"):
                    remote = client.find_order_by_ref_id(ref_id)
                    if remote is None:
                        first = self._first_unknown.setdefault(ref_id, self.p.monotonic())
                        if self.p.monotonic() - first >= float(self.p.unknown_order_timeout):
                            reason = f"no order with ref_id {ref_id} at Robinhood after {self.p.unknown_order_timeout:.0f}s"
                            self.journal.upsert_order(ref_id, status="rejected", reason=reason)
                            order = self._order_for(ref_id, rec)
                            if order is not None:
                                self._reject(order, reason)
                        continue
                    self.journal.upsert_order(ref_id, broker_id=remote.get("id"), status="accepted")
                    order = self._order_for(ref_id, rec)
                    if order is not None and order.status in (Order.Created, Order.Submitted):
                        order.accept(self)
                        self.notify(order)
                else:
                    remote = client.get_order(rec["broker_id"])
            except BrokerError as exc:
                logger.warning("tracking order %s failed: %s", ref_id, exc.reason or exc)
                continue
            self._apply_remote(ref_id, remote)

    def _apply_remote(self, ref_id: str, remote: dict[str, Any]) -> None:
        """Books new executions of a Robinhood order and mirrors its final state."""
        rec = self.journal.orders[ref_id]
        order = self._order_for(ref_id, rec)
        known = {f.get("fill_id") for f in self.journal.fills}
        sign = 1.0 if rec["side"] == "buy" else -1.0
        for ex in remote.get("executions") or []:
            fid = str(ex.get("id") or f"{ref_id}:{ex.get('timestamp')}:{ex.get('quantity')}")
            if fid in known:
                continue
            try:
                qty = float(ex["quantity"])
                price = float(ex["price"])
            except (KeyError, TypeError, ValueError):
                logger.warning("order %s: malformed execution %r ignored", ref_id, ex)
                continue
            fill = {"fill_id": fid, "ref_id": ref_id, "symbol": rec["symbol"], "size": sign * qty,
                    "price": price, "commission": 0.0, "time": str(ex.get("timestamp") or "")}
            self._record_fill(ref_id, rec, fill, order, cash_delta=-(sign * qty * price))
            rec = self.journal.orders[ref_id]
        state = str(remote.get("state") or "")
        if state in _RH_DEAD and rec.get("status") in OPEN_STATES:
            new = "cancelled" if state in ("cancelled", "canceled") else "rejected"
            reason = remote.get("reject_reason") or state
            self.journal.upsert_order(ref_id, status=new, reason=reason)
            if order is not None:
                if new == "cancelled":
                    order.cancel()
                    self.notify(order)
                else:
                    self._reject(order, f"Robinhood: {reason}")

    def _refresh_account(self) -> None:
        client = self.p.client
        try:
            account = client.get_account()
            positions = client.get_positions()
        except BrokerError as exc:
            logger.warning("account refresh failed (keeping cached values): %s", exc.reason or exc)
            return
        self.journal.cash = account.cash
        self._value_cache = account.equity
        for symbol in set(self.positions) | set(positions):
            pos = positions.get(symbol)
            size, price = (pos.quantity, pos.average_price) if pos else (0.0, 0.0)
            self.positions[symbol].set(size, price)
            self.journal.positions[symbol] = {"size": size, "price": price}
        self.journal.save()

    # ------------------------------------------------------------------ fills
    def _record_fill(self, ref_id: str, rec: dict[str, Any], fill: dict[str, Any], order: Order | None,
                     cash_delta: float) -> None:
        if not self.journal.add_fill(fill, save=False):
            return
        symbol = rec["symbol"]
        pos = self.positions[symbol]
        self._execute_order(order, fill, position=pos)
        self.journal.positions[symbol] = {"size": pos.size, "price": pos.price}
        self.journal.cash = self.getcash() + cash_delta
        filled = float(rec.get("filled") or 0.0) + abs(fill["size"])
        prev_notional = float(rec.get("avg_price") or 0.0) * float(rec.get("filled") or 0.0)
        avg = (prev_notional + abs(fill["size"]) * fill["price"]) / filled
        status = "filled" if filled >= rec["size"] - 1e-9 else "partial"
        self.journal.upsert_order(
            ref_id, save=False, filled=filled, avg_price=avg, status=status,
            commission=float(rec.get("commission") or 0.0) + fill["commission"],
        )
        self.journal.save()
        logger.info("fill %s %s %+g @ %.4f (commission %.4f) -> position %g, cash %.2f",
                    ref_id, symbol, fill["size"], fill["price"], fill["commission"], pos.size, self.getcash())

    def _execute_order(self, order: Order | None, fill: dict[str, Any], position: bt.Position | None) -> None:
        """Updates ``position`` (if given) and reports the execution on ``order`` (if any)."""
        size, price, comm = float(fill["size"]), float(fill["price"]), float(fill["commission"])
        if position is not None:
            pprice_orig = position.price
            psize, pprice, opened, closed = position.update(size, price)
        else:  # replaying a journaled fill onto a re-made order: positions already include it
            pprice_orig, psize, pprice, opened, closed = price, 0.0, 0.0, size, 0.0
        if order is None:
            return
        comminfo = self.getcommissioninfo(order.data)
        pnl = comminfo.profitandloss(-closed, pprice_orig, price) if closed else 0.0
        closedvalue = comminfo.getoperationcost(closed, pprice_orig) if closed else 0.0
        openedvalue = comminfo.getoperationcost(opened, price) if opened else 0.0
        closedcomm = comm * abs(closed) / abs(size) if size else 0.0
        openedcomm = comm - closedcomm
        dt = _fill_dt(fill.get("time"))
        if dt is None:
            try:
                dt = order.data.datetime[0]
            except IndexError:
                dt = bt.date2num(datetime.now())
        order.execute(dt, size, price, closed, closedvalue, closedcomm, opened, openedvalue, openedcomm,
                      0.0, pnl, psize, pprice)
        order.addcomminfo(comminfo)
        self.notify(order)

    # ------------------------------------------------------------- daily loss
    def _roll_day(self, now: datetime) -> None:
        today = to_new_york(now).date().isoformat()
        day = self.journal.day
        if day.get("date") != today:
            # the day starts from the last value seen before it (yesterday's marks),
            # so an opening gap counts against the daily loss limit
            prev = self._last_value if self._last_value is not None else self.journal.state.get("last_value")
            day.update(date=today, start_value=prev, orders=0)
            self.journal.state["last_value"] = prev
            if self.journal.halt_reason and not self._stopping:
                self.journal.halt_reason = None
            self.journal.save()

    def _check_daily_loss(self) -> None:
        day = self.journal.day
        value = self.getvalue()
        if any(abs(p.size) > 0 for p in self.positions.values()) and not self._has_marks():
            return  # cannot value the book yet
        self._last_value = value
        if day.get("start_value") is None:
            day["start_value"] = value
            self.journal.save()
            return
        if self._flattening:
            if not any(o.get("status") in OPEN_STATES and o.get("flatten") for o in self.journal.orders.values()):
                self._request_stop(self.journal.halt_reason or "daily loss limit")
            return
        reason = self.rails.daily_loss_breached(value, day.get("start_value"))
        if reason is None:
            return
        logger.error(reason)
        self.journal.halt_reason = reason
        self.journal.save()
        self._flatten()

    def _flatten(self) -> None:
        self._flattening = True
        kill = self.rails.kill_switch_reason()
        for symbol, pos in list(self.positions.items()):
            if abs(pos.size) < 1e-12:
                continue
            data = self._datas.get(symbol)
            if data is None or kill:
                logger.error("cannot flatten %s (%s); close it manually", symbol, kill or "no data feed")
                continue
            submit = self.sell if pos.size > 0 else self.buy
            submit(None, data, abs(pos.size), _flatten=True,
                   ref_id=decision_ref_id(self.p.strategy_id, symbol, f"flatten:{self.journal.day.get('date')}", 0))
        if not any(o.get("status") in OPEN_STATES and o.get("flatten") for o in self.journal.orders.values()):
            self._request_stop(self.journal.halt_reason or "daily loss limit")

    def _request_stop(self, reason: str) -> None:
        if self._stopping:
            return
        self._stopping = True
        for data in self._datas.values():
            stop = getattr(data, "request_stop", None)
            if callable(stop):
                stop(reason)

    # ---------------------------------------------------------------- helpers
    def _now(self) -> datetime:
        clock: Callable[[], datetime] | None = self.p.clock or getattr(self.p.client, "now", None)
        now = clock() if clock is not None else datetime.now(timezone.utc)
        return now if now.tzinfo is not None else now.replace(tzinfo=timezone.utc)

    @staticmethod
    def _symbol(data: Any) -> str:
        sym = getattr(data, "symbol", None) or getattr(data, "_name", None) or getattr(data.p, "dataname", "")
        return str(sym).upper()

    def _register(self, data: Any) -> str:
        symbol = self._symbol(data)
        self._datas.setdefault(symbol, data)
        return symbol

    def _bar_key(self, data: Any) -> str:
        try:
            return data.datetime.datetime(0).isoformat()
        except (IndexError, AttributeError):
            return self._now().isoformat()

    def _latest_quote(self, symbol: str) -> tuple[int, Quote] | None:
        data = self._datas.get(symbol)
        getter = getattr(data, "latest_quote", None)
        return getter() if callable(getter) else None

    def _ref_price(self, symbol: str, data: Any, side: str) -> float:
        latest = self._latest_quote(symbol)
        if latest is not None:
            q = latest[1]
            return float(q.ask if side == "buy" else q.bid)
        try:
            return float(data.close[0])
        except (IndexError, AttributeError, TypeError):
            return float("nan")

    def _has_marks(self) -> bool:
        return all(self._mark(s) is not None for s, p in self.positions.items() if abs(p.size) > 0)

    def _mark(self, symbol: str) -> float | None:
        latest = self._latest_quote(symbol)
        if latest is not None:
            return float(latest[1].last)
        data = self._datas.get(symbol)
        if data is not None:
            try:
                v = float(data.close[0])
                if math.isfinite(v):
                    return v
            except (IndexError, AttributeError, TypeError):
                pass
        return None

    def _position_value(self, symbol: str) -> float:
        pos = self.positions.get(symbol)
        if pos is None or not pos.size:
            return 0.0
        mark = self._mark(symbol)
        return pos.size * (mark if mark is not None else pos.price)

    def _pending_size(self, symbol: str) -> float:
        total = 0.0
        for rec in self.journal.orders.values():
            if rec.get("symbol") == symbol and rec.get("status") in OPEN_STATES:
                rem = float(rec["size"]) - float(rec.get("filled") or 0.0)
                total += rem if rec["side"] == "buy" else -rem
        return total

    def _order_for(self, ref_id: str, rec: dict[str, Any]) -> Order | None:
        """The bt order of ``ref_id``; a detached one (owner None) for journaled orders of a past run."""
        order = self._bt_orders.get(ref_id)
        if order is not None:
            return order
        data = self._datas.get(rec["symbol"])
        if data is None:
            return None
        cls = BuyOrder if rec["side"] == "buy" else SellOrder
        order = cls(owner=None, data=data, size=rec["size"], exectype=Order.Market, simulated=False)
        order.addinfo(ref_id=ref_id)
        order.submit(self)
        order.accept(self)
        self._bt_orders[ref_id] = order
        return order

    def _restore_from_journal(self) -> None:
        if self.journal.cash is None:
            self.journal.cash = self.cfg.paper_cash if self.mode is TradingMode.PAPER else 0.0
        for symbol, p in self.journal.positions.items():
            self.positions[symbol].set(float(p["size"]), float(p["price"]))
        open_refs = [r for r, o in self.journal.orders.items() if o.get("status") in OPEN_STATES]
        if self.journal.loaded:
            logger.info("resumed journal %s: cash %.2f, positions %s, open orders %s", self.journal.path,
                        self.getcash(), {s: p.size for s, p in self.positions.items()}, open_refs)
        if self.journal.halt_reason:
            logger.warning("journal says trading is halted: %s", self.journal.halt_reason)
        self.journal.save()

