"""Configuration of the Robinhood live/paper trading layer.

:class:`LiveConfig` holds every knob of :mod:`maml_strategy.live`; defaults are
conservative (paper trading, small notional limits, one request a second).
It is read from the ``live:`` section of a strategy YAML file, so it can sit
beside the lead's strategy configuration without clashing with it.

Example:
    >>> from maml_strategy.live.config import LiveConfig
    >>> cfg = LiveConfig.from_mapping({"max_order_notional": 2500, "commission_bps": 3})
    >>> cfg.max_order_notional, cfg.allow_real_orders
    (2500.0, False)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from maml_strategy.config import config_from_dict, load_config  # imports neither torch nor backtrader
from maml_strategy.errors import ConfigError

__all__ = ["LiveConfig", "load_live_config"]

_VALID_INTERVALS = ("5minute", "10minute", "hour", "day", "week")
_VALID_SPANS = ("day", "week", "month", "3month", "year", "5year")


@dataclass
class LiveConfig:
    """Settings of the Robinhood client, feed, broker and safety rails.

    Every field has a conservative default; see the inline comments.
    """

    # --- real money gate --------------------------------------------------
    # Real orders also need the --live flag and an interactive confirmation.
    allow_real_orders: bool = False

    # --- session / client ----------------------------------------------------
    # Directory of the robin_stocks session pickle (created 0700, file 0600).
    session_dir: str = "~/.maml_strategy/robinhood"
    # Reuse the stored session token between runs (fewer logins, fewer MFA prompts).
    store_session: bool = True
    # Seconds before any HTTP request to Robinhood gives up (robin_stocks has none).
    request_timeout_s: float = 10.0
    # Minimum seconds between two HTTP requests (Robinhood throttles > ~1 req/s).
    min_request_interval_s: float = 1.0
    # Attempts for a read (GET) that fails with 429, 5xx or a connection error.
    max_read_attempts: int = 4
    # First back-off delay in seconds; doubles each retry, capped by backoff_max_s.
    backoff_base_s: float = 1.0
    backoff_max_s: float = 30.0
    # Look-ups of an order by ref_id after its POST timed out, and the wait between them.
    order_lookup_attempts: int = 3
    order_lookup_wait_s: float = 2.0
    # Days of order history scanned when looking an order up by ref_id.
    order_lookup_days: int = 3

    # --- feed ----------------------------------------------------------------
    # Seconds between quote polls while live.
    poll_interval_s: float = 60.0
    # Bar size emitted live: "day", or minutes as an int-like string ("5", "60").
    bar_interval: str = "day"
    # Backfill request (robin_stocks get_stock_historicals interval/span).
    historical_interval: str = "day"
    historical_span: str = "5year"
    # At the close of a daily bar, replace the quote-built bar with Robinhood's
    # official daily bar (adds volume) when it is available.
    official_bars: bool = True

    # --- broker --------------------------------------------------------------
    # Commission in basis points of traded value (paper fills; live uses real fills).
    commission_bps: float = 5.0
    # Starting cash of a fresh paper account (ignored in live mode).
    paper_cash: float = 100_000.0
    # Seconds between refreshes of cash/value/positions/order states from Robinhood.
    refresh_interval_s: float = 30.0
    # On-disk journal of orders, fills, positions and cash ("" = in-memory only).
    journal_path: str = ""

    # --- safety rails ----------------------------------------------------------
    # Largest absolute position value per symbol, in dollars.
    max_position_notional: float = 25_000.0
    # Largest single order value, in dollars.
    max_order_notional: float = 10_000.0
    # Most orders submitted per trading day (flattening orders excluded).
    max_orders_per_day: int = 10
    # Loss from the start-of-day value (fraction) that flattens and stops trading.
    daily_loss_limit: float = 0.05
    # Refuse orders outside the NYSE regular session (disabled in replay).
    check_market_hours: bool = True
    # If this file exists, no new orders are sent and the broker reports why.
    kill_switch_path: str = "~/.maml_strategy/KILL_SWITCH"
    # Allow selling more than is held (Robinhood cash accounts cannot short).
    allow_short: bool = False

    def __post_init__(self) -> None:
        self._validate()

    # ------------------------------------------------------------------ api
    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> "LiveConfig":
        """Builds a config from a mapping (e.g. the ``live:`` YAML section).

        Args:
            data: keys are field names; read strictly by
                :func:`maml_strategy.config.config_from_dict` (unknown keys get a
                "did you mean" hint, wrong types name the field).

        Returns:
            The validated config.

        Raises:
            ConfigError: on unknown keys or values of the wrong type/range.

        Example:
            >>> LiveConfig.from_mapping({"poll_interval_s": 5}).poll_interval_s
            5.0
        """
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise ConfigError(f"live config must be a mapping, got {type(data).__name__}")
        data = dict(data)
        bar_interval = data.get("bar_interval")
        if isinstance(bar_interval, (int, float)) and not isinstance(bar_interval, bool):
            data["bar_interval"] = str(int(bar_interval))  # YAML reads `bar_interval: 5` as a number
        try:
            return config_from_dict(cls, data, where="live")
        except ConfigError as exc:
            if isinstance(exc.__cause__, ConfigError):  # _validate's message already names live.<field>
                raise ConfigError(str(exc.__cause__)) from exc.__cause__
            raise

    def resolved_session_dir(self) -> Path:
        """The session directory with ``~`` and variables expanded."""
        return Path(os.path.expandvars(os.path.expanduser(self.session_dir)))

    def resolved_kill_switch(self) -> Path | None:
        """The kill-switch path expanded, or None when disabled (empty string)."""
        if not self.kill_switch_path:
            return None
        return Path(os.path.expandvars(os.path.expanduser(self.kill_switch_path)))

    def bar_minutes(self) -> int:
        """Minutes per live bar; 0 means daily bars."""
        if self.bar_interval == "day":
            return 0
        return int(self.bar_interval)

    # -------------------------------------------------------------- private
    def _validate(self) -> None:
        positive = (
            "request_timeout_s",
            "max_order_notional",
            "max_position_notional",
        )
        for name in positive:
            if not getattr(self, name) > 0:
                raise ConfigError(f"live.{name} must be > 0, got {getattr(self, name)!r}")
        non_negative = (
            "min_request_interval_s",
            "backoff_base_s",
            "backoff_max_s",
            "order_lookup_wait_s",
            "poll_interval_s",
            "commission_bps",
            "paper_cash",
            "refresh_interval_s",
        )
        for name in non_negative:
            if getattr(self, name) < 0:
                raise ConfigError(f"live.{name} must be >= 0, got {getattr(self, name)!r}")
        for name in ("max_read_attempts", "order_lookup_attempts", "order_lookup_days", "max_orders_per_day"):
            if getattr(self, name) < 1:
                raise ConfigError(f"live.{name} must be >= 1, got {getattr(self, name)!r}")
        if not 0 < self.daily_loss_limit <= 1:
            raise ConfigError(
                f"live.daily_loss_limit is a fraction in (0, 1], got {self.daily_loss_limit!r}"
            )
        if self.historical_interval not in _VALID_INTERVALS:
            raise ConfigError(
                f"live.historical_interval must be one of {_VALID_INTERVALS}, "
                f"got {self.historical_interval!r}"
            )
        if self.historical_span not in _VALID_SPANS:
            raise ConfigError(
                f"live.historical_span must be one of {_VALID_SPANS}, got {self.historical_span!r}"
            )
        if self.bar_interval != "day":
            try:
                minutes = int(self.bar_interval)
            except ValueError:
                raise ConfigError(
                    f"live.bar_interval must be 'day' or a number of minutes, got {self.bar_interval!r}"
                ) from None
            if minutes < 1 or minutes > 390:
                raise ConfigError(f"live.bar_interval minutes must be in 1..390, got {minutes}")


def load_live_config(path: str | os.PathLike[str] | None, section: str = "live") -> LiveConfig:
    """Reads the ``live:`` section of a strategy YAML file into a :class:`LiveConfig`.

    The file is read by :func:`maml_strategy.config.load_config`, so the whole
    strategy file is checked too. A missing section gives the defaults; a
    missing file raises.

    Args:
        path: YAML file (e.g. ``strategies/maml_regime.yaml``) or None for defaults.
        section: kept for compatibility; only ``"live"`` (the
            :class:`~maml_strategy.config.StrategyConfig` field) is accepted.

    Returns:
        The validated config.

    Raises:
        ConfigError: the file is missing, not YAML, not a valid strategy file,
            or the section is invalid.

    Example:
        >>> load_live_config(None).paper_cash
        100000.0
    """
    if path is None:
        return LiveConfig()
    if section != "live":
        raise ConfigError(f"the live settings are the 'live' section of a strategy file, not {section!r}")
    return LiveConfig.from_mapping(load_config(path).live)
