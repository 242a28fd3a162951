"""Value types returned by the Robinhood clients, and the client interface.

:class:`Quote`, :class:`Account` and :class:`Position` are what
:class:`~maml_strategy.live.client.RobinhoodClient` returns;
:class:`MarketDataClient` is the interface the feeds need (also implemented by
:class:`~maml_strategy.live.replay.ReplayClient`), :class:`BrokerClient` adds
orders and the account (live mode); :class:`OrderStateUnknown` is raised when an
order's fate cannot be established.

Example:
    >>> from maml_strategy.live.models import Position
    >>> Position("SPY", 3.0, 412.5).quantity
    3.0
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

import pandas as pd

from maml_strategy.errors import BrokerError

__all__ = ["Quote", "Account", "Position", "MarketDataClient", "BrokerClient", "OrderStateUnknown"]


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
class MarketDataClient(Protocol):
    """What feeds and paper trading need: login, a clock, quotes and historical bars."""

    def login(self) -> None: ...
    def logout(self) -> None: ...
    def now(self) -> datetime: ...
    def get_quote(self, symbol: str) -> Quote: ...
    def get_historicals(self, symbol: str, interval: str = "day", span: str = "5year") -> pd.DataFrame: ...


@runtime_checkable
class BrokerClient(MarketDataClient, Protocol):
    """A :class:`MarketDataClient` that also places and tracks orders (live mode)."""

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
