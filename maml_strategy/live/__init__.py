"""Robinhood live/paper trading for backtrader (optional ``live`` extra).

Only :mod:`maml_strategy.live.client` (through :mod:`~maml_strategy.live.session`)
touches ``robin_stocks`` and it imports it lazily, so this package imports
without the extra installed; logging in then raises
:class:`~maml_strategy.errors.BrokerError` with the install hint
(``pip install maml-strategy[live]``).

Example:
    >>> import backtrader as bt                                             # doctest: +SKIP
    >>> from maml_strategy.live import FakeClient, RobinhoodBroker, make_feed, LiveConfig  # doctest: +SKIP
    >>> fake = FakeClient.from_csv("../shared/data/SPY.csv", start="2020-01-02")  # doctest: +SKIP
    >>> cerebro = bt.Cerebro()                                              # doctest: +SKIP
    >>> cerebro.adddata(make_feed(fake, "SPY", LiveConfig(), replay=True))  # doctest: +SKIP
    >>> cerebro.setbroker(RobinhoodBroker(client=fake, check_market_hours=False))  # doctest: +SKIP
"""

from __future__ import annotations

from maml_strategy.live.broker import RobinhoodBroker, decision_ref_id
from maml_strategy.live.client import (
    Account,
    BrokerClient,
    OrderStateUnknown,
    Position,
    Quote,
    RobinhoodClient,
)
from maml_strategy.live.config import LiveConfig, load_live_config
from maml_strategy.live.fake import EndOfReplay, FakeClient, RobinhoodHTTPStub
from maml_strategy.live.feed import RobinhoodData, make_feed
from maml_strategy.live.journal import Journal
from maml_strategy.live.safety import (
    LiveAuthorization,
    SafetyRails,
    TradingMode,
    authorize_real_orders,
    is_market_open,
)

__all__ = [
    "Account",
    "BrokerClient",
    "EndOfReplay",
    "FakeClient",
    "Journal",
    "LiveAuthorization",
    "LiveConfig",
    "OrderStateUnknown",
    "Position",
    "Quote",
    "RobinhoodBroker",
    "RobinhoodClient",
    "RobinhoodData",
    "RobinhoodHTTPStub",
    "SafetyRails",
    "TradingMode",
    "authorize_real_orders",
    "decision_ref_id",
    "is_market_open",
    "load_live_config",
    "make_feed",
]
