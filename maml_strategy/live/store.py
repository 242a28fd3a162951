"""RobinhoodStore: one Robinhood session shared by the data feeds and the broker.

Shaped like backtrader's ``IBStore``: :meth:`RobinhoodStore.getdata` builds a
:class:`~maml_strategy.live.feed.RobinhoodData` and :meth:`RobinhoodStore.getbroker`
a broker — :class:`~maml_strategy.live.paper.PaperBroker` (default) or the
live-only :class:`~maml_strategy.live.broker.RobinhoodBroker` — all on the same
client. The store logs in once and reports ``notify_store`` messages to
cerebro and the strategies: ``("LOGIN", text)``, ``("THROTTLED", text)`` when a
request backs off, ``("ERROR", text)`` when a call fails and ``("STOPPED",
reason)`` when a safety rail ends the session. A feed adds its store to cerebro
(as IB's feed does), so ``cerebro.adddata(store.getdata(...))`` is enough.

The feeds publish their latest in-session :class:`~maml_strategy.live.fills.Tick`
and warm-up state here; the brokers read them here (never from a feed).

Example:
    >>> import backtrader as bt                                                   # doctest: +SKIP
    >>> store = RobinhoodStore(ReplayClient.from_csv("../shared/data/SPY.csv", start="2020-01-02"))  # doctest: +SKIP
    >>> cerebro = bt.Cerebro()                                                    # doctest: +SKIP
    >>> cerebro.adddata(store.getdata("SPY"))                                     # doctest: +SKIP
    >>> cerebro.setbroker(store.getbroker())          # paper trading by default  # doctest: +SKIP
"""

from __future__ import annotations

import collections
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

from maml_strategy.errors import ConfigError
from maml_strategy.live.config import LiveConfig
from maml_strategy.live.fills import Tick
from maml_strategy.live.models import BrokerClient, MarketDataClient
from maml_strategy.live.replay import ReplayClient

__all__ = ["RobinhoodStore", "FeedState"]

logger = logging.getLogger(__name__)


@dataclass
class FeedState:
    """What a feed publishes for the broker: its last tick and whether it is still warming up."""

    tick: Tick | None = None
    warming_up: bool = True  # delivering backfill (history) bars; no orders then


class RobinhoodStore:
    """One Robinhood (or replay) session for feeds and brokers.

    Args:
        client: a :class:`~maml_strategy.live.client.RobinhoodClient` or a
            :class:`~maml_strategy.live.replay.ReplayClient`.
        config: live settings (default :class:`LiveConfig`).
        replay: replay mode (poll every call, no market-hours checks); default: the
            client is a ReplayClient.
        clock: callable returning the aware current time (default ``client.now``).
    """

    def __init__(
        self,
        client: MarketDataClient,
        config: LiveConfig | None = None,
        *,
        replay: bool | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if client is None:
            raise ConfigError("RobinhoodStore needs a client (RobinhoodClient, or ReplayClient for --replay)")
        self.client = client
        self.config = config or LiveConfig()
        self.replay = isinstance(client, ReplayClient) if replay is None else bool(replay)
        self._clock = clock
        self.datas: list[Any] = []
        self.broker: Any = None
        self.notifs: collections.deque[tuple[str, tuple[Any, ...], dict[str, Any]]] = collections.deque()
        self.feeds: dict[str, FeedState] = collections.defaultdict(FeedState)
        self.stop_reason: str | None = None
        self._logged_in_here = False
        if hasattr(client, "on_event"):
            client.on_event = self._on_client_event

    # ------------------------------------------------------------- factories
    def getdata(self, dataname: str, **kwargs: Any) -> Any:
        """A :class:`~maml_strategy.live.feed.RobinhoodData` for ``dataname`` (the symbol).

        Defaults come from the config (poll interval, bar size, backfill request);
        ``kwargs`` override them.
        """
        from maml_strategy.live.feed import RobinhoodData

        cfg = self.config
        params: dict[str, Any] = dict(
            dataname=dataname.upper(), name=dataname.upper(), store=self,
            poll_interval=0.0 if self.replay else cfg.poll_interval_s,
            idle_sleep=0.0 if self.replay else 0.05,
            check_session=not self.replay,
            hist_interval=cfg.historical_interval, hist_span=cfg.historical_span,
            bar_minutes=cfg.bar_minutes(), official_bars=cfg.official_bars,
        )
        params.update(kwargs)
        data = RobinhoodData(**params)
        self.datas.append(data)
        return data

    def getbroker(self, mode: str = "paper", **kwargs: Any) -> Any:
        """A paper broker (default) or, with ``mode="live"``, the real-order broker.

        Args:
            mode: ``"paper"`` or ``"live"`` (also needs ``authorization=``).
            **kwargs: broker params (``journal``, ``check_market_hours``, ``authorization``...).

        Raises:
            ConfigError: unknown mode, or live mode on a client that cannot place orders.
        """
        if mode == "paper":
            from maml_strategy.live.paper import PaperBroker

            self.broker = PaperBroker(store=self, **kwargs)
        elif mode == "live":
            if not isinstance(self.client, BrokerClient):
                raise ConfigError("live mode needs a client that places orders (RobinhoodClient); "
                                  "a replay always paper-trades")
            from maml_strategy.live.broker import RobinhoodBroker

            self.broker = RobinhoodBroker(store=self, **kwargs)
        else:
            raise ConfigError(f"mode must be 'paper' or 'live', got {mode!r}")
        return self.broker

    # ------------------------------------------------------------ lifecycle
    def login(self) -> None:
        """Logs the client in once (credentials from the environment; no-op for a replay)."""
        if getattr(self.client, "logged_in", False):
            return
        self.client.login()
        self._logged_in_here = True
        if self.replay:
            self.put_notification("LOGIN", "replay session (no Robinhood login)")

    def start(self, data: Any = None, broker: Any = None) -> None:
        """Called by cerebro, the feeds and the brokers: logs in (once)."""
        self.login()

    def stop(self) -> None:
        """Logs out if this store logged in."""
        if self._logged_in_here:
            self.client.logout()
            self._logged_in_here = False

    # --------------------------------------------------------- notifications
    def put_notification(self, msg: str, *args: Any, **kwargs: Any) -> None:
        """Queues a ``notify_store`` message."""
        self.notifs.append((msg, args, kwargs))

    def get_notifications(self) -> list[tuple[str, tuple[Any, ...], dict[str, Any]]]:
        """The pending ``notify_store`` messages (cerebro drains them every cycle)."""
        out = list(self.notifs)
        self.notifs.clear()
        return out

    def _on_client_event(self, kind: str, text: str) -> None:
        self.put_notification(kind, text)

    # ------------------------------------------------------- feeds <-> broker
    def now(self) -> datetime:
        """The session clock (aware): ``clock``, else the client's clock."""
        now = self._clock() if self._clock is not None else self.client.now()
        return now if now.tzinfo is not None else now.replace(tzinfo=timezone.utc)

    def last_tick(self, symbol: str) -> Tick | None:
        """The last in-session tick of ``symbol`` (None before the first)."""
        state = self.feeds.get(symbol.upper())
        return None if state is None else state.tick

    def warming_up(self, symbol: str) -> bool:
        """True while the feed of ``symbol`` delivers backfill bars (or has delivered none)."""
        state = self.feeds.get(symbol.upper())
        return True if state is None else state.warming_up

    def request_stop(self, reason: str) -> None:
        """Ends the session: every feed stops at its next load; reports ``("STOPPED", reason)``."""
        if self.stop_reason is not None:
            return
        self.stop_reason = reason
        logger.warning("session stopping: %s", reason)
        self.put_notification("STOPPED", reason)
        for data in self.datas:
            data.request_stop(reason)
