"""Robinhood live/paper trading for backtrader (optional ``live`` extra), in backtrader's store shape.

* :class:`RobinhoodStore` — one session (client, clock, ``notify_store`` messages);
  ``store.getdata(symbol)`` gives a :class:`RobinhoodData` feed and
  ``store.getbroker()`` a :class:`PaperBroker` (backtrader's ``BackBroker`` plus the
  safety rails and the journal; the default) or, with ``"live"`` and a
  :class:`LiveAuthorization`, the real-order :class:`RobinhoodBroker`.
* :class:`RobinhoodClient` — the hardened robin_stocks wrapper (imported lazily, so
  this package imports without the extra; logging in then raises
  :class:`~maml_strategy.errors.BrokerError` with ``pip install maml-strategy[live]``).
* :class:`ReplayClient` — historical bars served as quotes (``paper_trade.py --replay``).
* :func:`load_robinhood_ohlcv` — validated Robinhood daily bars.

Example:
    >>> import backtrader as bt                                                    # doctest: +SKIP
    >>> from maml_strategy.live import ReplayClient, RobinhoodStore                 # doctest: +SKIP
    >>> store = RobinhoodStore(ReplayClient.from_csv("../shared/data/SPY.csv", start="2020-01-02"))  # doctest: +SKIP
    >>> cerebro = bt.Cerebro()                                                     # doctest: +SKIP
    >>> cerebro.adddata(store.getdata("SPY"))                                      # doctest: +SKIP
    >>> cerebro.setbroker(store.getbroker())                                       # doctest: +SKIP
"""

from __future__ import annotations

from maml_strategy.live.broker import RobinhoodBroker
from maml_strategy.live.calendar import is_market_open, session_bounds
from maml_strategy.live.client import RobinhoodClient, load_robinhood_ohlcv
from maml_strategy.live.config import LiveConfig, load_live_config
from maml_strategy.live.feed import RobinhoodData
from maml_strategy.live.fills import Tick, fill_price
from maml_strategy.live.guard import decision_ref_id
from maml_strategy.live.journal import DayRecord, FillRecord, Journal, OrderRecord, PositionRecord
from maml_strategy.live.models import (
    Account,
    BrokerClient,
    MarketDataClient,
    OrderStateUnknown,
    Position,
    Quote,
)
from maml_strategy.live.paper import PaperBroker
from maml_strategy.live.replay import EndOfReplay, ReplayClient
from maml_strategy.live.safety import LiveAuthorization, SafetyRails, TradingMode, authorize_real_orders
from maml_strategy.live.store import FeedState, RobinhoodStore

__all__ = [
    "Account",
    "BrokerClient",
    "DayRecord",
    "EndOfReplay",
    "FeedState",
    "FillRecord",
    "Journal",
    "LiveAuthorization",
    "LiveConfig",
    "MarketDataClient",
    "OrderRecord",
    "OrderStateUnknown",
    "PaperBroker",
    "Position",
    "PositionRecord",
    "Quote",
    "ReplayClient",
    "RobinhoodBroker",
    "RobinhoodClient",
    "RobinhoodData",
    "RobinhoodStore",
    "SafetyRails",
    "Tick",
    "TradingMode",
    "authorize_real_orders",
    "decision_ref_id",
    "fill_price",
    "is_market_open",
    "load_live_config",
    "load_robinhood_ohlcv",
    "session_bounds",
]
