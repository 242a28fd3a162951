"""OrderGuard: the safety rails and journal bookkeeping both brokers share.

Paper (:class:`~maml_strategy.live.paper.PaperBroker`) and live
(:class:`~maml_strategy.live.broker.RobinhoodBroker`) trading differ in how an
order is filled; everything else is here, once: deterministic ``ref_id`` s
(:func:`decision_ref_id`), vetting each order (warm-up bars, halt, only market
orders, :class:`~maml_strategy.live.safety.SafetyRails`), the per-day counters
and the daily-loss rail, which flattens every position and then stops the
session through the store.

Example:
    >>> decision_ref_id("maml", "SPY", "2024-07-01T00:00:00", 0) == decision_ref_id("maml", "SPY", "2024-07-01T00:00:00", 0)
    True
"""

from __future__ import annotations

import collections
import logging
import uuid
from datetime import datetime
from typing import Any, Callable

from backtrader.order import Order

from maml_strategy.errors import ConfigError
from maml_strategy.live.calendar import to_new_york
from maml_strategy.live.config import LiveConfig
from maml_strategy.live.journal import Journal, OrderRecord
from maml_strategy.live.safety import SafetyRails, TradingMode

__all__ = ["OrderGuard", "decision_ref_id", "flatten_position", "reject_order", "WARM_UP_REASON"]

logger = logging.getLogger(__name__)

_REF_NAMESPACE = uuid.UUID("6f1c7a52-93a5-4c4e-9d0b-3f9f3c1d2a10")
WARM_UP_REASON = "warm-up (backfill) bar; orders are only sent on live bars"


def decision_ref_id(strategy_id: str, symbol: str, bar: str, seq: int) -> str:
    """Deterministic UUID for the ``seq``-th order of a strategy on ``symbol`` at bar ``bar``.

    The same decision after a restart yields the same ``ref_id``, which the
    journal (and Robinhood) use to avoid a duplicate order.
    """
    return str(uuid.uuid5(_REF_NAMESPACE, f"{strategy_id}|{symbol.upper()}|{bar}|{seq}"))


def order_symbol(data: Any) -> str:
    """The symbol of a feed: its ``_name`` (as cerebro knows it), else its ``dataname``."""
    return str(data._name or data.p.dataname).upper()


def reject_order(broker: Any, order: Order, reason: str, quiet: bool = False) -> Order:
    """Reject ``order`` on ``broker`` with ``reason`` (kept in ``order.info``), notify and log it (both brokers)."""
    order.addinfo(reject_reason=reason)
    order.reject(broker)
    broker.notify(order)
    (logger.debug if quiet else logger.warning)(
        "order %s %s rejected: %s", order.info.get("ref_id"), order_symbol(order.data), reason)
    return order


def flatten_position(broker: Any, symbol: str, size: float) -> None:
    """Send the market order that closes ``size`` of ``symbol`` on ``broker`` (the daily-loss flatten, both brokers)."""
    data = next((d for d in broker.store.datas if order_symbol(d) == symbol), None)
    if data is None:
        logger.error("cannot flatten %s (no data feed); close it manually", symbol)
        return
    submit = broker.sell if size > 0 else broker.buy
    submit(None, data, abs(size), flatten=True, ref_id=broker.guard.flatten_ref_id(symbol))


class OrderGuard:
    """Rails, journal and daily-loss state of one broker.

    Args:
        store: the :class:`~maml_strategy.live.store.RobinhoodStore` (clock, ticks, stop).
        config: live settings.
        mode: paper or live (a journal never switches).
        journal: a :class:`Journal`, a path, or None for ``config.journal_path``.
        check_market_hours: override of ``config.check_market_hours`` (None: the config;
            replays never check).
        strategy_id: namespace of the deterministic ``ref_id`` s.
    """

    def __init__(self, store: Any, config: LiveConfig, mode: TradingMode, journal: Any,
                 check_market_hours: bool | None, strategy_id: str) -> None:
        if store is None:
            raise ConfigError("the broker needs store=<RobinhoodStore>; build it with store.getbroker()")
        self.store = store
        self.cfg = config
        self.mode = mode
        self.journal = journal if isinstance(journal, Journal) else Journal(journal or config.journal_path or None)
        self.journal.bind_mode(mode.value)
        if check_market_hours is None and store.replay:
            check_market_hours = False
        self.rails = SafetyRails(config, check_market_hours=check_market_hours)
        self.strategy_id = strategy_id
        self._decision_seq: dict[tuple[str, str], int] = collections.defaultdict(int)
        self.flattening = False
        self.last_value: float | None = None
        if self.journal.halt_reason:
            logger.warning("journal says trading is halted: %s", self.journal.halt_reason)

    # ------------------------------------------------------------- orders
    def now(self) -> datetime:
        """The session clock (aware)."""
        return self.store.now()

    def ref_id(self, symbol: str, bar: str, given: str | None) -> str:
        """``given`` or the next deterministic ``ref_id`` of ``symbol`` at ``bar``."""
        if given is not None:
            return given
        key = (symbol, bar)
        ref = decision_ref_id(self.strategy_id, symbol, bar, self._decision_seq[key])
        self._decision_seq[key] += 1
        return ref

    @staticmethod
    def bar_key(data: Any, now: datetime) -> str:
        """ISO time of the feed's current bar (the decision's bar)."""
        try:
            return data.datetime.datetime(0).isoformat()
        except IndexError:
            return now.isoformat()

    def ref_price(self, symbol: str, data: Any, side: str) -> float:
        """The price an order is vetted at: the last tick's ask/bid, else the bar's close."""
        tick = self.store.last_tick(symbol)
        if tick is not None:
            return float(tick.quote.ask if side == "buy" else tick.quote.bid)
        try:
            return float(data.close[0])
        except IndexError:
            return float("nan")

    def vet(self, order: Order, symbol: str, side: str, size: float, position: float, flatten: bool) -> str | None:
        """Why ``order`` must be rejected, or None (counts it against today's orders if accepted)."""
        now = self.now()
        self.roll_day(now)
        if order.exectype not in (None, Order.Market):
            return f"only market orders are supported (got {order.getordername()})"
        if self.store.warming_up(symbol) and not flatten:
            return WARM_UP_REASON
        if self.journal.halt_reason and not flatten:
            return f"trading halted: {self.journal.halt_reason}"
        reason = self.rails.check_order(
            symbol=symbol, size=size if side == "buy" else -size,
            price=self.ref_price(symbol, order.data, side), position_size=position,
            orders_today=self.journal.day.orders, now=now, flatten=flatten,
        )
        if reason is None and not flatten:
            self.journal.day.orders += 1
        return reason

    def record(self, ref_id: str, order: Order, symbol: str, status: str, reason: str | None = None,
               flatten: bool = False) -> OrderRecord:
        """Journals a newly submitted (or refused) order."""
        now = self.now()
        return self.journal.upsert_order(
            ref_id, symbol=symbol, side="buy" if order.isbuy() else "sell", size=abs(float(order.size)),
            status=status, created=now.isoformat(), bar=self.bar_key(order.data, now), reason=reason,
            flatten=flatten,
        )

    def blocked_reason(self) -> str | None:
        """Why new orders would be refused right now (kill switch, halt, market hours), or None."""
        return (
            self.rails.kill_switch_reason()
            or (f"trading halted: {self.journal.halt_reason}" if self.journal.halt_reason else None)
            or self.rails.market_closed_reason(self.now())
        )

    # --------------------------------------------------------- daily loss
    def roll_day(self, now: datetime) -> None:
        """Starts a new day's counters; its loss base is the last value seen before it."""
        today = to_new_york(now).date().isoformat()
        day = self.journal.day
        if day.date != today:
            # yesterday's marks: an opening gap counts against the daily loss limit
            prev = self.last_value if self.last_value is not None else self.journal.last_value
            day.date, day.start_value, day.orders = today, prev, 0
            self.journal.last_value = prev
            if self.journal.halt_reason and self.store.stop_reason is None:
                self.journal.halt_reason = None
            self.journal.save()

    def check_daily_loss(self, value: float | None, positions: dict[str, float],
                         flatten: Callable[[str, float], None]) -> None:
        """Evaluates the daily-loss rail at ``value`` (None: the book cannot be valued yet).

        On a breach, halts trading, calls ``flatten(symbol, size)`` for each open
        position and stops the session once no flattening order is open.
        """
        self.roll_day(self.now())
        if value is None:
            return
        self.last_value = value
        day = self.journal.day
        if day.start_value is None:
            day.start_value = value
            self.journal.save()
            return
        if self.flattening:
            self._stop_when_flat()
            return
        reason = self.rails.daily_loss_breached(value, day.start_value)
        if reason is None:
            return
        logger.error(reason)
        self.journal.halt_reason = reason
        self.journal.save()
        self.flattening = True
        kill = self.rails.kill_switch_reason()
        for symbol, size in positions.items():
            if abs(size) < 1e-12:
                continue
            if kill:
                logger.error("cannot flatten %s (%s); close it manually", symbol, kill)
                continue
            flatten(symbol, size)
        self._stop_when_flat()

    def _stop_when_flat(self) -> None:
        if not any(o.is_open and o.flatten for o in self.journal.orders.values()):
            self.store.request_stop(self.journal.halt_reason or "daily loss limit")

    def flatten_ref_id(self, symbol: str) -> str:
        """The ``ref_id`` of today's flattening order of ``symbol``."""
        return decision_ref_id(self.strategy_id, symbol, f"flatten:{self.journal.day.date}", 0)

    def status(self, cash: float, value: float) -> dict[str, Any]:
        """Snapshot for operators: mode, why orders are blocked, counters, cash, value."""
        return {
            "mode": self.mode.value, "blocked": self.blocked_reason(), "halt_reason": self.journal.halt_reason,
            "orders_today": self.journal.day.orders, "cash": cash, "value": value,
            "open_orders": sorted(o.ref_id for o in self.journal.open_orders()),
        }
