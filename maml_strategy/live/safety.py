"""Safety rails and the real-money gate of the live layer.

:class:`SafetyRails` vets every order in both paper and live mode: kill-switch
file, market hours (the XNYS calendar of :mod:`~maml_strategy.live.calendar`:
holidays and early closes included), orders per day,
order and position notional. The daily loss limit is evaluated by the broker
through :meth:`SafetyRails.daily_loss_breached`.

:func:`authorize_real_orders` is the only way to obtain the
:class:`LiveAuthorization` that :class:`~maml_strategy.live.broker.RobinhoodBroker`
requires for live mode: it needs the ``--live`` flag, ``allow_real_orders: true``
in the config and an interactive confirmation (or ``--yes-real-money``).

Example:
    >>> authorize_real_orders(LiveConfig(), live_flag=False) is None   # no --live: paper
    True
"""

from __future__ import annotations

import logging
import math
import sys
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Callable

from maml_strategy.errors import ConfigError
from maml_strategy.live.calendar import is_market_open, session_bounds, to_new_york
from maml_strategy.live.config import LiveConfig

__all__ = ["TradingMode", "LiveAuthorization", "SafetyRails", "authorize_real_orders"]

logger = logging.getLogger(__name__)


class TradingMode(str, Enum):
    """Paper (simulated fills, the default) or live (real orders)."""

    PAPER = "paper"
    LIVE = "live"


_AUTH_TOKEN = object()


@dataclass(frozen=True)
class LiveAuthorization:
    """Proof that real orders were authorized; build it with :func:`authorize_real_orders`."""

    account_last4: str
    confirmed_by: str  # "prompt" or "--yes-real-money"
    _token: object = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self._token is not _AUTH_TOKEN:
            raise ConfigError("LiveAuthorization must come from authorize_real_orders()")


def authorize_real_orders(
    config: LiveConfig,
    *,
    live_flag: bool,
    yes_real_money: bool = False,
    account_last4: str = "",
    input_fn: Callable[[str], str] = input,
    isatty: Callable[[], bool] | None = None,
) -> LiveAuthorization | None:
    """Applies the three-key rule for real orders.

    Returns None (paper mode) without ``--live``. With ``--live`` it requires
    ``allow_real_orders: true`` and a confirmation: ``--yes-real-money`` or,
    on a terminal, typing the account's last four characters or ``YES``.

    Args:
        config: live settings (``allow_real_orders``).
        live_flag: the ``--live`` command-line flag.
        yes_real_money: the ``--yes-real-money`` flag.
        account_last4: last four characters of the account number (shown/accepted in the prompt).
        input_fn: prompt function (tests inject one).
        isatty: whether stdin is interactive (default ``sys.stdin.isatty``).

    Returns:
        A :class:`LiveAuthorization`, or None for paper mode.

    Raises:
        ConfigError: ``--live`` was given but a key is missing; the run must not start.

    Example:
        >>> authorize_real_orders(LiveConfig(), live_flag=False) is None
        True
    """
    if not live_flag:
        return None
    if not config.allow_real_orders:
        raise ConfigError(
            "--live was given but the config does not set 'allow_real_orders: true' under 'live:'; "
            "refusing to start (drop --live for paper trading)"
        )
    if yes_real_money:
        logger.warning("REAL-MONEY trading authorized by --yes-real-money")
        return LiveAuthorization(account_last4, "--yes-real-money", _AUTH_TOKEN)
    tty = isatty() if isatty is not None else bool(getattr(sys.stdin, "isatty", lambda: False)())
    if not tty:
        raise ConfigError(
            "real orders need an interactive confirmation or --yes-real-money; stdin is not a terminal"
        )
    shown = f"****{account_last4}" if account_last4 else "your account"
    answer = input_fn(
        f"REAL MONEY orders will be sent to Robinhood account {shown}. "
        "Type the account's last 4 characters or YES to continue: "
    ).strip()
    if answer == "YES" or (account_last4 and answer == account_last4):
        logger.warning("REAL-MONEY trading confirmed interactively")
        return LiveAuthorization(account_last4, "prompt", _AUTH_TOKEN)
    raise ConfigError("confirmation did not match; refusing to trade real money")


class SafetyRails:
    """Order checks shared by paper and live mode.

    Args:
        config: limits (notional, orders per day, daily loss, kill switch).
        check_market_hours: override ``config.check_market_hours`` (False in replay).

    Example:
        >>> rails = SafetyRails(LiveConfig(max_order_notional=1000, kill_switch_path=""),
        ...                     check_market_hours=False)
        >>> rails.check_order(symbol="SPY", size=10, price=500.0, position_size=0,
        ...                   orders_today=0, now=datetime(2024, 7, 1, 14, 0))
        'order notional 5000.00 exceeds max_order_notional 1000.00'
    """

    def __init__(
        self,
        config: LiveConfig,
        *,
        check_market_hours: bool | None = None,
    ) -> None:
        self.config = config
        self.check_market_hours = config.check_market_hours if check_market_hours is None else check_market_hours
        self.kill_switch = config.resolved_kill_switch()

    def kill_switch_reason(self) -> str | None:
        """Why orders are blocked by the kill-switch file, or None."""
        if self.kill_switch is not None and self.kill_switch.exists():
            return f"kill switch {self.kill_switch} exists; remove it to allow new orders"
        return None

    def market_closed_reason(self, now: datetime) -> str | None:
        """Why the market is closed at ``now``, or None (always None when the check is off)."""
        if not self.check_market_hours or is_market_open(now):
            return None
        ny = to_new_york(now)
        bounds = session_bounds(ny.date())
        when = "no session that day (weekend or NYSE holiday)" if bounds is None else (
            f"regular session {bounds[0]:%H:%M}-{bounds[1]:%H:%M}")
        return f"market closed at {ny:%Y-%m-%d %H:%M} New York ({when})"

    def check_order(
        self,
        *,
        symbol: str,
        size: float,
        price: float,
        position_size: float,
        orders_today: int,
        now: datetime,
        flatten: bool = False,
    ) -> str | None:
        """Returns why an order must be rejected, or None when it may go out.

        Args:
            symbol: ticker.
            size: signed order size (+buy, -sell).
            price: reference price (latest quote).
            position_size: signed current position.
            orders_today: orders already submitted today.
            now: current time (aware).
            flatten: a position-reducing order from the daily-loss rail (skips
                count and notional limits, not the kill switch or market hours).
        """
        reason = self.kill_switch_reason()
        if reason:
            return reason
        reason = self.market_closed_reason(now)
        if reason:
            return reason
        if not (math.isfinite(size) and size != 0):
            return f"invalid order size {size!r}"
        if not (math.isfinite(price) and price > 0):
            return f"no valid price for {symbol} (got {price!r})"
        new_position = position_size + size
        if not self.config.allow_short and new_position < -1e-9:
            return f"order would leave a short position of {new_position:g} {symbol} (allow_short is false)"
        if flatten:
            return None
        if orders_today >= self.config.max_orders_per_day:
            return f"max_orders_per_day {self.config.max_orders_per_day} reached"
        notional = abs(size) * price
        if notional > self.config.max_order_notional:
            return f"order notional {notional:.2f} exceeds max_order_notional {self.config.max_order_notional:.2f}"
        pos_notional = abs(new_position) * price
        if pos_notional > self.config.max_position_notional and abs(new_position) > abs(position_size):
            return (
                f"position notional {pos_notional:.2f} would exceed max_position_notional "
                f"{self.config.max_position_notional:.2f}"
            )
        return None

    def daily_loss_breached(self, value: float, start_value: float | None) -> str | None:
        """Why the daily loss limit is breached, or None."""
        if start_value is None or not start_value > 0 or not math.isfinite(value):
            return None
        loss = (start_value - value) / start_value
        if loss >= self.config.daily_loss_limit:
            return (
                f"daily loss {loss * 100:.1f} % reached daily_loss_limit {self.config.daily_loss_limit * 100:g} % "
                f"(start {start_value:.2f}, now {value:.2f}); flattening and stopping"
            )
        return None
