"""PaperBroker: backtrader's ``BackBroker`` plus the safety rails and the journal.

Paper trading never sends an order. Cash, positions, commission (``commission_bps``
of traded value) and margin checks are backtrader's own ``BackBroker``; this
class adds what live trading has too (:class:`~maml_strategy.live.guard.OrderGuard`):
deterministic ``ref_id`` s, the rails (a refused order becomes ``Rejected`` with
``order.info.reject_reason``), the journal (a restarted session resumes its cash,
positions and open orders, and never counts a journaled decision twice) and the
daily-loss rail. A market order fills at the first tick after the decision at
:func:`~maml_strategy.live.fills.fill_price` (ask/bid, never better than the bar's open).

Example:
    >>> store = RobinhoodStore(ReplayClient.from_csv("../shared/data/SPY.csv", start="2020-01-02"))  # doctest: +SKIP
    >>> cerebro.setbroker(store.getbroker(journal="paper_journal.json"))  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from typing import Any

import backtrader as bt
from backtrader.order import Order

from maml_strategy.live.calendar import to_new_york
from maml_strategy.live.fills import book_fill, fill_price, mark_price, pending_size
from maml_strategy.live.guard import WARM_UP_REASON, OrderGuard, flatten_position, order_symbol, reject_order
from maml_strategy.live.journal import FillRecord
from maml_strategy.live.safety import TradingMode

__all__ = ["PaperBroker"]

logger = logging.getLogger(__name__)

_FINAL = {Order.Margin: "margin", Order.Canceled: "cancelled", Order.Rejected: "rejected", Order.Expired: "expired"}


class PaperBroker(bt.brokers.BackBroker):
    """Simulated broker with the live layer's rails and journal (build it with ``store.getbroker()``).

    Params:
        store: the :class:`~maml_strategy.live.store.RobinhoodStore`.
        config: :class:`~maml_strategy.live.config.LiveConfig` (default: the store's).
        journal: a :class:`~maml_strategy.live.journal.Journal`, a path, or None for ``config.journal_path``.
        check_market_hours: override of ``config.check_market_hours`` (replays never check).
        strategy_id: namespace of the deterministic ``ref_id`` s.
    """

    params = (
        ("store", None),
        ("config", None),
        ("journal", None),
        ("check_market_hours", None),
        ("strategy_id", "maml"),
    )

    def __init__(self) -> None:
        super().__init__()
        self.store = self.p.store
        self.guard = OrderGuard(self.store, self.p.config or getattr(self.store, "config", None),
                                TradingMode.PAPER, self.p.journal, self.p.check_market_hours, self.p.strategy_id)
        self.cfg = self.guard.cfg
        self.journal = self.guard.journal
        self.setcommission(commission=self.cfg.commission_bps / 1e4)
        if self.journal.cash is None:
            self.journal.cash = self.cfg.paper_cash
        self._after_seq: dict[int, int] = {}  # bt order ref -> tick seq at submission
        self._fill_time = ""
        self.journal.save()

    # ------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Restores cash and positions from the journal."""
        super().start()
        self.store.start(broker=self)
        self.startingcash = self.cash = float(self.journal.cash)
        for data in self.store.datas:
            rec = self.journal.positions.get(order_symbol(data))
            if rec is not None and rec.size:
                self.positions[data].set(rec.size, rec.price)
        self._value = self.cash + sum(p.size * p.price for p in self.positions.values())
        if self.journal.loaded:
            logger.info("resumed journal %s: cash %.2f, positions %s, open orders %s", self.journal.path,
                        self.cash, {s: p.size for s, p in self.journal.positions.items()},
                        [o.ref_id for o in self.journal.open_orders()])

    def stop(self) -> None:
        """Saves the journal."""
        self.journal.save()
        super().stop()

    # --------------------------------------------------------------- orders
    def submit(self, order: Order, check: bool = True) -> Order:
        """Vets ``order`` (rails, warm-up, halt, journal) and hands it to the simulation."""
        symbol = order_symbol(order.data)
        flatten = bool(order.info.get("flatten", False))
        now = self.guard.now()
        ref_id = self.guard.ref_id(symbol, self.guard.bar_key(order.data, now), order.info.get("ref_id"))
        order.addinfo(ref_id=ref_id)
        rec = self.journal.orders.get(ref_id)
        if rec is not None and not rec.is_open:  # decided, and settled, in an earlier session
            return self._reject(order, f"{rec.status} in an earlier session (journal); not resubmitted", quiet=True)
        if rec is None:
            side = "buy" if order.isbuy() else "sell"
            position = self.getposition(order.data).size + pending_size(self.journal, symbol)
            reason = self.guard.vet(order, symbol, side, abs(float(order.size)), position, flatten)
            if reason is not None:
                self.guard.record(ref_id, order, symbol, "rejected", reason, flatten)
                return self._reject(order, reason, quiet=reason == WARM_UP_REASON)
            self.guard.record(ref_id, order, symbol, "accepted", flatten=flatten)
            logger.info("paper order %s %g %s accepted (ref_id %s)", side, abs(order.size), symbol, ref_id)
        else:
            logger.info("order %s already journaled (%s); simulating it again", ref_id, rec.status)
        tick = self.store.last_tick(symbol)
        self._after_seq[order.ref] = tick.seq if tick is not None else 0
        return super().submit(order, check)

    def _reject(self, order: Order, reason: str, quiet: bool = False) -> Order:
        return reject_order(self, order, reason, quiet)

    def _try_exec_market(self, order: Order, popen: float, phigh: float, plow: float) -> None:
        """Fills at the first tick after the decision (never better than the bar's open)."""
        tick = self.store.last_tick(order_symbol(order.data))
        if tick is None or tick.seq <= self._after_seq.get(order.ref, 0):
            return
        price = fill_price("buy" if order.isbuy() else "sell", tick)
        when = to_new_york(tick.quote.time)
        self._fill_time = tick.quote.time.isoformat()
        self._execute(order, ago=0, price=price, dtcoc=bt.date2num(when.replace(tzinfo=None)))

    def notify(self, order: Order) -> None:
        """Queues the notification and mirrors the order's state into the journal."""
        super().notify(order)
        ref_id = order.info.get("ref_id")
        rec = self.journal.orders.get(ref_id or "")
        if rec is None or not rec.is_open:
            return
        if order.status in (Order.Partial, Order.Completed) and order.executed.exbits:
            self._record_fill(rec, order)
        elif order.status in _FINAL:
            reason = order.info.get("reject_reason") or ("not enough cash" if order.status == Order.Margin else None)
            self.journal.upsert_order(rec.ref_id, status=_FINAL[order.status], reason=reason)
            if order.status == Order.Margin:
                logger.warning("paper order %s: not enough cash (has %.2f)", rec.ref_id, self.cash)

    def _record_fill(self, rec: Any, order: Order) -> None:
        bit = order.executed.exbits[-1]
        size, price, comm = float(bit.size), float(bit.price), float(bit.closedcomm + bit.openedcomm)
        n = len(self.journal.fills_of(rec.ref_id))
        fill = FillRecord(f"{rec.ref_id}:{n}", rec.ref_id, rec.symbol, size, price, comm, self._fill_time)
        book_fill(self.journal, rec, fill, self.positions[order.data], lambda: self.cash)  # BackBroker moved both

    # ------------------------------------------------------------------ next
    def next(self) -> None:
        """Simulated fills, then the daily-loss rail on quote marks."""
        if any(pos and len(data) == 0 for data, pos in self.positions.items()):
            return  # restored positions, but no bar yet to value them
        super().next()
        self.guard.check_daily_loss(self._marked_value(), self._sizes(), self._flatten)

    def get_value(self, datas: Any = None, mkt: bool = False, lever: bool = False) -> float:
        """Cash plus positions marked at the last tick (the bar's close before any tick)."""
        value = self._marked_value(datas)
        return value if value is not None else super().get_value(datas, mkt, lever)

    getvalue = get_value

    def _marked_value(self, datas: Any = None) -> float | None:
        total = 0.0 if datas is not None else float(self.cash)
        for data, pos in self.positions.items():
            if datas is not None and data not in datas:
                continue
            if pos.size:
                mark = mark_price(self.store, order_symbol(data), data)
                if mark is None:
                    return None
                total += pos.size * mark
        return total

    def _sizes(self) -> dict[str, float]:
        return {order_symbol(d): p.size for d, p in self.positions.items()}

    def _flatten(self, symbol: str, size: float) -> None:
        flatten_position(self, symbol, size)

    # ------------------------------------------------------------ operators
    def blocked_reason(self) -> str | None:
        """Why new orders would be refused right now, or None."""
        return self.guard.blocked_reason()

    def status(self) -> dict[str, Any]:
        """Snapshot for operators: mode, why orders are blocked, counters, cash, value."""
        return self.guard.status(self.getcash(), self.getvalue())
