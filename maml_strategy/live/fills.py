"""The one fill simulator of paper trading, and the tick it fills at.

A :class:`Tick` is one in-session quote as the feed saw it, with the open,
high and low of the bar being built. :func:`fill_price` prices a paper market
order at the first tick after the decision: the ask for a buy and the bid for a
sell, but never better than that bar's open — a buy pays at least the open, a
sell gets at most the open. Replayed ticks are synthetic (the open, the two
extremes, the close), so without this rule an order decided after the open
could fill at the day's best price.

Example:
    >>> from datetime import datetime, timezone
    >>> from maml_strategy.live.models import Quote
    >>> t = Tick(2, Quote(101.0, 101.0, 101.0, datetime(2020, 3, 9, 15, tzinfo=timezone.utc)), 99.0, 101.0, 98.0)
    >>> fill_price("sell", t), fill_price("buy", t)
    (99.0, 101.0)
"""

from __future__ import annotations

from dataclasses import dataclass

from maml_strategy.live.models import Quote

__all__ = ["Tick", "fill_price"]


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
