"""RobinhoodBroker: the live-only backtrader broker (real orders, real fills).

Needs a :class:`~maml_strategy.live.safety.LiveAuthorization` (``--live``,
``allow_real_orders: true`` and a confirmation). It sends market orders through
the store's client with deterministic ``ref_id`` s, tracks them to completion
(partial fills included) and refreshes cash, value and positions on a timer —
cerebro asks for them several times per bar, so they are never fetched per call.
Paper trading is :class:`~maml_strategy.live.paper.PaperBroker`.

Orders, fills, positions and cash are journaled atomically; a restarted broker
reconciles open orders by ``ref_id`` and never resubmits an order whose
``ref_id`` is already journaled. Rails, warm-up rejection and the daily-loss
flatten are :class:`~maml_strategy.live.guard.OrderGuard`'s.

Example:
    >>> auth = authorize_real_orders(cfg, live_flag=True)                   # doctest: +SKIP
    >>> cerebro.setbroker(store.getbroker("live", authorization=auth))      # doctest: +SKIP
"""

from __future__ import annotations

import collections
import logging
import time
from datetime import datetime, timezone
from typing import Any

import backtrader as bt
from backtrader.order import BuyOrder, Order, SellOrder

from maml_strategy.errors import BrokerError, ConfigError
from maml_strategy.live.calendar import to_new_york
from maml_strategy.live.fills import book_fill, mark_price, pending_size
from maml_strategy.live.guard import WARM_UP_REASON, OrderGuard, decision_ref_id, flatten_position, order_symbol, reject_order
from maml_strategy.live.journal import FillRecord, OrderRecord, PositionRecord
from maml_strategy.live.models import OrderStateUnknown
from maml_strategy.live.safety import LiveAuthorization, TradingMode

__all__ = ["RobinhoodBroker", "decision_ref_id"]

logger = logging.getLogger(__name__)

_RH_DEAD = {"cancelled", "canceled", "rejected", "failed"}


def _fill_dt(stamp: str) -> float | None:
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
    """Real-money Robinhood broker with journal and safety rails (build it with ``store.getbroker("live", ...)``).

    Params:
        store: the :class:`~maml_strategy.live.store.RobinhoodStore` (its client places the orders).
        config: :class:`LiveConfig` (default: the store's).
        authorization: from :func:`~maml_strategy.live.safety.authorize_real_orders` (required).
        journal: a :class:`Journal`, a path, or None for ``config.journal_path``.
        check_market_hours: override of ``config.check_market_hours``.
        monotonic: clock for the refresh timer.
        strategy_id: namespace of deterministic ref_ids.
        unknown_order_timeout: seconds an order may stay unfound by ref_id before it is
            declared never placed.
    """

    params = (
        ("store", None),
        ("config", None),
        ("authorization", None),
        ("journal", None),
        ("check_market_hours", None),
        ("monotonic", time.monotonic),
        ("strategy_id", "maml"),
        ("unknown_order_timeout", 300.0),
    )

    def __init__(self) -> None:
        super().__init__()
        store = self.p.store
        cfg = self.p.config or getattr(store, "config", None)
        if cfg is None or not cfg.allow_real_orders:
            raise ConfigError("live mode needs 'allow_real_orders: true' in the live config")
        if not isinstance(self.p.authorization, LiveAuthorization):
            raise ConfigError(
                "live mode needs a LiveAuthorization from authorize_real_orders() "
                "(--live, allow_real_orders and a confirmation)"
            )
        self.guard = OrderGuard(store, cfg, TradingMode.LIVE, self.p.journal, self.p.check_market_hours,
                                self.p.strategy_id)
        self.store, self.cfg, self.journal = store, cfg, self.guard.journal
        self.client = store.client
        self.setcommission(commission=0.0)  # Robinhood charges none; real fills carry their own costs
        self.notifs: collections.deque[Order] = collections.deque()
        self.positions: dict[str, bt.Position] = collections.defaultdict(bt.Position)
        self._bt_orders: dict[str, Order] = {}
        self._first_unknown: dict[str, float] = {}
        self._next_refresh = 0.0
        self._value_cache: float | None = None
        if self.journal.cash is None:
            self.journal.cash = 0.0
        for symbol, p in self.journal.positions.items():
            self.positions[symbol].set(p.size, p.price)
        self.journal.save()
        self.startingcash = self.getcash()

    # ------------------------------------------------------------ bt plumbing
    def start(self) -> None:
        """Reconciles journaled orders and loads account state."""
        super().start()
        self.store.start(broker=self)
        self._track_orders()
        self._refresh_account()
        self._next_refresh = self.p.monotonic() + self.cfg.refresh_interval_s
        self.startingcash = self.getvalue()  # backtrader's writers/analyzers read this

    def stop(self) -> None:
        """Saves the journal."""
        self.journal.save()
        super().stop()

    def get_notification(self) -> Order | None:
        """Next pending order notification (cerebro drains these every cycle)."""
        return self.notifs.popleft() if self.notifs else None

    def notify(self, order: Order) -> None:
        """Queues a snapshot of ``order`` for the strategy."""
        self.notifs.append(order.clone())

    def getcash(self) -> float:
        """Cash from the last account refresh."""
        return float(self.journal.cash or 0.0)

    get_cash = getcash

    def getvalue(self, datas: Any = None) -> float:
        """Account equity from the last refresh (or positions of ``datas`` marked at their last tick)."""
        if datas is not None:
            return sum(self._position_value(order_symbol(d), d) for d in datas)
        if self._value_cache is not None:
            return self._value_cache
        return self.getcash() + sum(self._position_value(s, None) for s in self.positions)

    get_value = getvalue

    def getposition(self, data: Any) -> bt.Position:
        """The position in ``data``'s symbol (cached)."""
        return self.positions[order_symbol(data)]

    def get_orders_open(self, safe: bool = False) -> list[Order]:
        """Open orders submitted through this broker instance."""
        return [o for ref, o in self._bt_orders.items() if ref in self.journal.orders and self.journal.orders[ref].is_open]

    def status(self) -> dict[str, Any]:
        """Snapshot for operators: mode, why orders are blocked, counters, cash, value."""
        return self.guard.status(self.getcash(), self.getvalue())

    def blocked_reason(self) -> str | None:
        """Why new orders would be refused right now (kill switch, halt, market hours), or None."""
        return self.guard.blocked_reason()

    # ----------------------------------------------------------------- orders
    def buy(self, owner: Any, data: Any, size: float, price: float | None = None, plimit: float | None = None,
            exectype: int | None = None, valid: Any = None, tradeid: int = 0, oco: Any = None,
            trailamount: float | None = None, trailpercent: float | None = None, **kwargs: Any) -> Order:
        """Submits a market buy (other order types are rejected)."""
        order = BuyOrder(owner=owner, data=data, size=size, price=price, pricelimit=plimit, exectype=exectype,
                         valid=valid, tradeid=tradeid, trailamount=trailamount, trailpercent=trailpercent)
        return self._submit(order, kwargs)

    def sell(self, owner: Any, data: Any, size: float, price: float | None = None, plimit: float | None = None,
             exectype: int | None = None, valid: Any = None, tradeid: int = 0, oco: Any = None,
             trailamount: float | None = None, trailpercent: float | None = None, **kwargs: Any) -> Order:
        """Submits a market sell (other order types are rejected)."""
        order = SellOrder(owner=owner, data=data, size=size, price=price, pricelimit=plimit, exectype=exectype,
                          valid=valid, tradeid=tradeid, trailamount=trailamount, trailpercent=trailpercent)
        return self._submit(order, kwargs)

    def cancel(self, order: Order) -> None:
        """Requests cancellation at Robinhood (confirmed by order tracking)."""
        rec = self.journal.orders.get(order.info.get("ref_id") or "")
        if rec is None or not rec.is_open:
            return
        if not rec.broker_id:
            logger.warning("cannot cancel %s yet: not confirmed by Robinhood", rec.ref_id)
            return
        try:
            self.client.cancel_order(rec.broker_id)
        except BrokerError as exc:
            logger.warning("cancel of %s failed: %s", rec.ref_id, exc)
            return
        self._next_refresh = 0.0  # confirm the cancellation at the next cycle

    def _submit(self, order: Order, kwargs: dict[str, Any]) -> Order:
        symbol = order_symbol(order.data)
        flatten = bool(kwargs.pop("flatten", False))
        ref_id = self.guard.ref_id(symbol, self.guard.bar_key(order.data, self.guard.now()), kwargs.pop("ref_id", None))
        order.addinfo(ref_id=ref_id, **kwargs)
        existing = self.journal.orders.get(ref_id)
        if existing is not None:
            return self._adopt(order, existing)
        side = "buy" if order.isbuy() else "sell"
        position = self.positions[symbol].size + pending_size(self.journal, symbol)
        reason = self.guard.vet(order, symbol, side, abs(float(order.size)), position, flatten)
        self._bt_orders[ref_id] = order
        if reason is not None:
            self.guard.record(ref_id, order, symbol, "rejected", reason, flatten)
            return self._reject(order, reason, quiet=reason == WARM_UP_REASON)
        rec = self.guard.record(ref_id, order, symbol, "submitting", flatten=flatten)
        return self._submit_live(order, rec)

    def _submit_live(self, order: Order, rec: OrderRecord) -> Order:
        # journaled first ("submitting"): if the process dies during the POST, the restart looks the ref_id up
        ref_id = rec.ref_id
        order.submit(self)
        self.notify(order)
        try:
            placed = self.client.place_market_order(rec.symbol, rec.size, rec.side, ref_id=ref_id)
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
        logger.info("live order %s %g %s accepted: id %s (ref_id %s)", rec.side, rec.size, rec.symbol,
                    placed.get("id"), ref_id)
        self._apply_remote(ref_id, placed)
        self._next_refresh = min(self._next_refresh, self.p.monotonic() + min(5.0, self.cfg.refresh_interval_s))
        return order

    def _adopt(self, order: Order, rec: OrderRecord) -> Order:
        """Binds a re-made decision to its journaled order instead of resubmitting it."""
        logger.info("order %s already journaled (%s); not resubmitting", rec.ref_id, rec.status)
        self._bt_orders[rec.ref_id] = order
        if rec.status == "rejected":
            return self._reject(order, rec.reason or "rejected earlier", quiet=True)
        order.submit(self)
        self.notify(order)
        if rec.status in ("submitting", "unknown"):
            return order
        order.accept(self)
        self.notify(order)
        for fill in self.journal.fills_of(rec.ref_id):
            self._execute_order(order, fill, position=None)
        if rec.status == "cancelled":
            order.cancel()
            self.notify(order)
        return order

    def _reject(self, order: Order, reason: str, quiet: bool = False) -> Order:
        return reject_order(self, order, reason, quiet)

    # -------------------------------------------------------------------- next
    def next(self) -> None:
        """Called by cerebro every cycle: order tracking and account refresh on the timer, daily-loss rail."""
        if self.p.monotonic() >= self._next_refresh:
            self._next_refresh = self.p.monotonic() + self.cfg.refresh_interval_s
            self._track_orders()
            self._refresh_account()
        marked = all(mark_price(self.store, s) is not None for s, p in self.positions.items() if p.size)
        sizes = {s: p.size for s, p in self.positions.items()}
        self.guard.check_daily_loss(self.getvalue() if marked else None, sizes, self._flatten)

    def _flatten(self, symbol: str, size: float) -> None:
        flatten_position(self, symbol, size)

    # ------------------------------------------------------------ live tracking
    def _track_orders(self) -> None:
        for rec in self.journal.open_orders():
            ref_id = rec.ref_id
            try:
                if not rec.broker_id:
                    remote = self.client.find_order_by_ref_id(ref_id)
                    if remote is None:
                        self._maybe_give_up(rec)
                        continue
                    self.journal.upsert_order(ref_id, broker_id=remote.get("id"), status="accepted")
                    order = self._order_for(rec)
                    if order is not None and order.status in (Order.Created, Order.Submitted):
                        order.accept(self)
                        self.notify(order)
                else:
                    remote = self.client.get_order(rec.broker_id)
            except BrokerError as exc:
                logger.warning("tracking order %s failed: %s", ref_id, exc.reason or exc)
                continue
            self._apply_remote(ref_id, remote)

    def _maybe_give_up(self, rec: OrderRecord) -> None:
        first = self._first_unknown.setdefault(rec.ref_id, self.p.monotonic())
        if self.p.monotonic() - first < float(self.p.unknown_order_timeout):
            return
        reason = f"no order with ref_id {rec.ref_id} at Robinhood after {self.p.unknown_order_timeout:.0f}s"
        self.journal.upsert_order(rec.ref_id, status="rejected", reason=reason)
        order = self._order_for(rec)
        if order is not None:
            self._reject(order, reason)

    def _apply_remote(self, ref_id: str, remote: dict[str, Any]) -> None:
        """Books new executions of a Robinhood order and mirrors its final state."""
        rec = self.journal.orders[ref_id]
        order = self._order_for(rec)
        known = {f.fill_id for f in self.journal.fills}
        sign = 1.0 if rec.side == "buy" else -1.0
        for ex in remote.get("executions") or []:
            fid = str(ex.get("id") or f"{ref_id}:{ex.get('timestamp')}:{ex.get('quantity')}")
            if fid in known:
                continue
            try:
                qty, price = float(ex["quantity"]), float(ex["price"])
            except (KeyError, TypeError, ValueError):
                logger.warning("order %s: malformed execution %r ignored", ref_id, ex)
                continue
            fill = FillRecord(fid, ref_id, rec.symbol, sign * qty, price, 0.0, str(ex.get("timestamp") or ""))
            self._record_fill(rec, fill, order)
            rec = self.journal.orders[ref_id]
        state = str(remote.get("state") or "")
        if state in _RH_DEAD and rec.is_open:
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
        try:
            account = self.client.get_account()
            positions = self.client.get_positions()
        except BrokerError as exc:
            logger.warning("account refresh failed (keeping cached values): %s", exc.reason or exc)
            return
        self.journal.cash = account.cash
        self._value_cache = account.equity
        for symbol in set(self.positions) | set(positions):
            pos = positions.get(symbol)
            size, price = (pos.quantity, pos.average_price) if pos else (0.0, 0.0)
            self.positions[symbol].set(size, price)
            self.journal.positions[symbol] = PositionRecord(size, price)
        self.journal.save()

    # ------------------------------------------------------------------ fills
    def _record_fill(self, rec: OrderRecord, fill: FillRecord, order: Order | None) -> None:
        pos = self.positions[rec.symbol]
        cash = self.getcash() - fill.size * fill.price - fill.commission  # until the next account refresh
        book_fill(self.journal, rec, fill, pos, lambda: cash, apply=lambda: self._execute_order(order, fill, position=pos))

    def _execute_order(self, order: Order | None, fill: FillRecord, position: bt.Position | None) -> None:
        """Updates ``position`` (if given) and reports the execution on ``order`` (if any)."""
        size, price, comm = fill.size, fill.price, fill.commission
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
        dt = _fill_dt(fill.time)
        if dt is None:
            dt = order.data.datetime[0] if len(order.data) else bt.date2num(datetime.now())
        order.execute(dt, size, price, closed, closedvalue, closedcomm, opened, openedvalue, comm - closedcomm,
                      0.0, pnl, psize, pprice)
        order.addcomminfo(comminfo)
        self.notify(order)

    # ---------------------------------------------------------------- helpers
    def _position_value(self, symbol: str, data: Any) -> float:
        pos = self.positions.get(symbol)
        if pos is None or not pos.size:
            return 0.0
        mark = mark_price(self.store, symbol, data)
        return pos.size * (mark if mark is not None else pos.price)

    def _order_for(self, rec: OrderRecord) -> Order | None:
        """The bt order of ``rec``; a detached one (owner None) for journaled orders of a past run."""
        order = self._bt_orders.get(rec.ref_id)
        if order is not None:
            return order
        data = next((d for d in self.store.datas if order_symbol(d) == rec.symbol), None)
        if data is None or not len(data):
            return None
        cls = BuyOrder if rec.side == "buy" else SellOrder
        order = cls(owner=None, data=data, size=rec.size, exectype=Order.Market, simulated=False)
        order.addinfo(ref_id=rec.ref_id)
        order.submit(self)
        order.accept(self)
        self._bt_orders[rec.ref_id] = order
        return order
