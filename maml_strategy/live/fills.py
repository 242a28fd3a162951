"""Fills of both live brokers: the paper fill price, and the one booking path.

A :class:`Tick` is one in-session quote as the feed saw it, with the open,
high and low of the bar being built. :func:`fill_price` prices a paper market
order at the first tick after the decision: the ask for a buy and the bid for a
sell, but never better than that bar's open — a buy pays at least the open, a
sell gets at most the open. Replayed ticks are synthetic (the open, the two
extremes, the close), so without this rule an order decided after the open
could fill at the day's best price.

Both :class:`~maml_strategy.live.paper.PaperBroker` and
:class:`~maml_strategy.live.broker.RobinhoodBroker` book a fill with
:func:`book_fill` (journaled once by ``fill_id``, then position, cash and the
order's progress), value a position at :func:`mark_price` and vet an order
against the position plus :func:`pending_size`.

Example:
    >>> from datetime import datetime, timezone
    >>> from maml_strategy.live.models import Quote
    >>> t = Tick(2, Quote(101.0, 101.0, 101.0, datetime(2020, 3, 9, 15, tzinfo=timezone.utc)), 99.0, 101.0, 98.0)
    >>> fill_price("sell", t), fill_price("buy", t)
    (99.0, 101.0)
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from maml_strategy.live.guard import order_symbol
from maml_strategy.live.journal import FillRecord, Journal, OrderRecord, PositionRecord
from maml_strategy.live.models import Quote

__all__ = ["Tick", "fill_price", "book_fill", "mark_price", "pending_size"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Tick:
    """An in-session quote and the bar it belongs to (so far)."""

    seq: int  # increases with every tick of the symbol
    quote: Quote
    bar_open: float  # open of the bar being built (first in-session quote)
    bar_high: float  # highest quote of that bar so far
    bar_low: float  # lowest quote of that bar so far


def fill_price(side: str, tick: Tick) -> float:
    """Paper fill price of a market order at ``tick`` (the first tick after the decision).

    Args:
        side: ``"buy"`` or ``"sell"``.
        tick: the tick the order fills at.

    Returns:
        ``max(ask, bar open)`` for a buy, ``min(bid, bar open)`` for a sell.

    Raises:
        ValueError: ``side`` is neither ``"buy"`` nor ``"sell"``.
    """
    if side == "buy":
        return max(float(tick.quote.ask), float(tick.bar_open))
    if side == "sell":
        return min(float(tick.quote.bid), float(tick.bar_open))
    raise ValueError(f"side must be 'buy' or 'sell', got {side!r}")


def book_fill(journal: Journal, rec: OrderRecord, fill: FillRecord, position: Any, cash: Callable[[], float],
              apply: Callable[[], None] | None = None) -> bool:
    """Book one fill of order ``rec``: the one path of both brokers.

    The fill is journaled once (a known ``fill_id`` books nothing); then ``apply``
    (if given) moves the broker's own position, and the journal records the
    position, the cash, and the order's filled size, average price, commission and
    status (``filled`` once the whole size is filled, else ``partial``), saved once.

    Args:
        journal: the broker's :class:`~maml_strategy.live.journal.Journal`.
        rec: the journaled order the fill belongs to.
        fill: the execution (signed size: + buy, - sell).
        position: the broker's ``bt.Position`` of the symbol (read after ``apply``).
        cash: the broker's cash after the fill (called after ``apply``).
        apply: updates the broker's position and cash with the fill (None: already done).

    Returns:
        True if the fill was new and booked.

    Example:
        >>> from types import SimpleNamespace
        >>> j = Journal(None)
        >>> rec = j.upsert_order("r1", symbol="SPY", side="buy", size=10.0)
        >>> pos = SimpleNamespace(size=4.0, price=100.0)
        >>> book_fill(j, rec, FillRecord("r1:0", "r1", "SPY", 4.0, 100.0, 0.5, ""), pos, lambda: 599.5)
        True
        >>> j.orders["r1"].status, j.orders["r1"].filled, j.cash, j.positions["SPY"].size
        ('partial', 4.0, 599.5, 4.0)
        >>> book_fill(j, j.orders["r1"], FillRecord("r1:0", "r1", "SPY", 4.0, 100.0, 0.5, ""), pos, lambda: 0.0)
        False
    """
    if not journal.add_fill(fill, save=False):
        return False
    if apply is not None:
        apply()
    journal.positions[rec.symbol] = PositionRecord(position.size, position.price)
    journal.cash = now = float(cash())
    filled = rec.filled + abs(fill.size)
    avg = ((rec.avg_price or 0.0) * rec.filled + abs(fill.size) * fill.price) / filled
    journal.upsert_order(rec.ref_id, save=False, filled=filled, avg_price=avg, commission=rec.commission + fill.commission,
                         status="filled" if filled >= rec.size - 1e-9 else "partial")
    journal.save()
    logger.info("fill %s %s %+g @ %.4f (commission %.4f) -> position %g, cash %.2f",
                rec.ref_id, rec.symbol, fill.size, fill.price, fill.commission, position.size, now)
    return True


def mark_price(store: Any, symbol: str, data: Any = None) -> float | None:
    """The price a position of ``symbol`` is valued at: the last tick, else the close of its data's last bar.

    Args:
        store: the :class:`~maml_strategy.live.store.RobinhoodStore` (``last_tick``, ``datas``).
        symbol: the ticker.
        data: the symbol's data feed (default: looked up among ``store.datas``).

    Returns:
        The mark, or None before any tick and any bar.
    """
    tick = store.last_tick(symbol)
    if tick is not None:
        return float(tick.quote.last)
    if data is None:
        data = next((d for d in store.datas if order_symbol(d) == symbol), None)
    return float(data.close[0]) if data is not None and len(data) else None


def pending_size(journal: Journal, symbol: str) -> float:
    """Shares still to fill in ``symbol``'s open orders (signed: + buy, - sell).

    The rails vet an order against the position plus this, so two orders in flight
    cannot together exceed a limit that each respects alone.

    Example:
        >>> j = Journal(None)
        >>> _ = j.upsert_order("a", symbol="SPY", side="buy", size=5.0, status="accepted")
        >>> pending_size(j, "SPY"), pending_size(j, "QQQ")
        (5.0, 0.0)
    """
    return sum((o.remaining for o in journal.open_orders() if o.symbol == symbol), 0.0)
