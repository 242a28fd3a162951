"""Crash-safe on-disk journal of the paper/live broker's state, with typed records.

The journal holds orders (:class:`OrderRecord`, by ``ref_id``), fills
(:class:`FillRecord`), positions (:class:`PositionRecord`), cash and the day's
counters (:class:`DayRecord`). Every change is written atomically (temp file in
the same directory, ``fsync``, ``os.replace``), so a process killed at any
instant leaves either the old or the new state, never a torn file. A restarted
broker loads it and resumes exactly where it stopped. The file is JSON (version 1).

Example:
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "j.json")
    >>> j = Journal(path)
    >>> j.upsert_order("0b6f...", symbol="SPY", side="buy", size=1.0, status="submitted").status
    'submitted'
    >>> Journal(path).orders["0b6f..."].symbol
    'SPY'
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from maml_strategy.atomic import atomic_write
from maml_strategy.errors import BrokerError

__all__ = ["Journal", "OrderRecord", "FillRecord", "PositionRecord", "DayRecord", "OPEN_STATES", "FINAL_STATES"]

logger = logging.getLogger(__name__)

#: Order states that still need tracking.
OPEN_STATES = frozenset({"submitting", "submitted", "accepted", "partial", "unknown"})
#: Terminal order states.
FINAL_STATES = frozenset({"filled", "cancelled", "rejected", "expired", "margin"})

_VERSION = 1


@dataclass
class OrderRecord:
    """One order, keyed by its deterministic ``ref_id``."""

    ref_id: str
    symbol: str = ""
    side: str = ""  # "buy" or "sell"
    size: float = 0.0  # shares ordered (> 0)
    status: str = "submitting"  # one of OPEN_STATES or FINAL_STATES
    filled: float = 0.0  # shares filled so far
    avg_price: float | None = None  # average fill price
    commission: float = 0.0  # commission paid so far
    broker_id: str | None = None  # Robinhood's order id (live mode)
    created: str = ""  # ISO time of submission
    bar: str = ""  # ISO time of the bar the decision was made on
    reason: str | None = None  # why it was rejected / cancelled
    flatten: bool = False  # sent by the daily-loss rail

    @property
    def is_open(self) -> bool:
        """True while the order still needs tracking."""
        return self.status in OPEN_STATES

    @property
    def remaining(self) -> float:
        """Signed shares still to fill (+buy, -sell)."""
        rem = self.size - self.filled
        return rem if self.side == "buy" else -rem


@dataclass
class FillRecord:
    """One execution (``size`` signed: + bought, - sold)."""

    fill_id: str
    ref_id: str
    symbol: str
    size: float
    price: float
    commission: float = 0.0
    time: str = ""  # ISO time of the execution


@dataclass
class PositionRecord:
    """A held position: signed size and average price."""

    size: float = 0.0
    price: float = 0.0


@dataclass
class DayRecord:
    """Counters of the current New York trading day."""

    date: str | None = None
    start_value: float | None = None  # value at the end of the previous day (daily-loss base)
    orders: int = 0  # orders submitted today (flattening orders excluded)


def _record(cls: type, data: Any, what: str) -> Any:
    names = {f.name for f in dataclasses.fields(cls)}
    if not isinstance(data, dict) or not names.issuperset(data):
        raise BrokerError(f"journal has a malformed {what} entry {data!r}; move the file aside to start fresh",
                          call="journal.load", reason="corrupt journal")
    return cls(**data)


class Journal:
    """JSON journal with atomic writes; ``path=None`` keeps it in memory only.

    Args:
        path: journal file; loaded when it exists.

    Raises:
        BrokerError: the file exists but is unreadable or not a journal.
    """

    def __init__(self, path: str | os.PathLike[str] | None) -> None:
        self.path: Path | None = Path(path).expanduser() if path else None
        self.mode: str | None = None  # "paper" or "live" once bound
        self.cash: float | None = None  # None until first set
        self.positions: dict[str, PositionRecord] = {}
        self.orders: dict[str, OrderRecord] = {}
        self.fills: list[FillRecord] = []
        self.day = DayRecord()
        self.halt_reason: str | None = None  # why trading is halted (daily loss limit)
        self.last_value: float | None = None  # last portfolio value seen (next day's loss base)
        self.loaded = False
        if self.path is not None and self.path.exists():
            self._load(self._read(self.path))
            self.loaded = True

    # --------------------------------------------------------------- update
    def bind_mode(self, mode: str) -> None:
        """Records the trading mode; a journal never switches between paper and live.

        Raises:
            BrokerError: the journal belongs to the other mode.
        """
        if self.mode is None:
            self.mode = mode
            self.save()
        elif self.mode != mode:
            raise BrokerError(
                f"journal {self.path} was written in {self.mode} mode; refusing to use it in {mode} mode "
                "(pass another journal path)",
                call="journal.bind_mode",
                reason="mode mismatch",
            )

    def upsert_order(self, ref_id: str, *, save: bool = True, **fields: Any) -> OrderRecord:
        """Creates or updates the order ``ref_id`` (fields of :class:`OrderRecord`) and (by default) saves."""
        rec = self.orders.get(ref_id)
        rec = self.orders[ref_id] = dataclasses.replace(rec, **fields) if rec else OrderRecord(ref_id, **fields)
        if save:
            self.save()
        return rec

    def add_fill(self, fill: FillRecord, *, save: bool = True) -> bool:
        """Appends a fill unless one with the same ``fill_id`` exists; returns True if added."""
        if any(f.fill_id == fill.fill_id for f in self.fills):
            return False
        self.fills.append(fill)
        if save:
            self.save()
        return True

    def fills_of(self, ref_id: str) -> list[FillRecord]:
        """The fills of order ``ref_id``, in arrival order."""
        return [f for f in self.fills if f.ref_id == ref_id]

    def open_orders(self) -> list[OrderRecord]:
        """Orders that still need tracking."""
        return [o for o in self.orders.values() if o.is_open]

    @property
    def state(self) -> dict[str, Any]:
        """The JSON document written to disk."""
        return {
            "version": _VERSION, "mode": self.mode, "cash": self.cash,
            "positions": {s: asdict(p) for s, p in self.positions.items()},
            "orders": {r: asdict(o) for r, o in self.orders.items()},
            "fills": [asdict(f) for f in self.fills], "day": asdict(self.day),
            "halt_reason": self.halt_reason, "last_value": self.last_value,
        }

    def _load(self, state: dict[str, Any]) -> None:
        self.mode = state.get("mode")
        self.cash = state.get("cash")
        self.positions = {s: _record(PositionRecord, p, "position") for s, p in (state.get("positions") or {}).items()}
        self.orders = {r: _record(OrderRecord, o, "order") for r, o in (state.get("orders") or {}).items()}
        self.fills = [_record(FillRecord, f, "fill") for f in state.get("fills") or []]
        self.day = _record(DayRecord, state.get("day") or {}, "day")
        self.halt_reason = state.get("halt_reason")
        self.last_value = state.get("last_value")

    def snapshot(self) -> dict[str, Any]:
        """A copy of the state as plain JSON data (for comparisons and reports)."""
        return json.loads(json.dumps(self.state, default=str))

    def save(self) -> None:
        """Writes the state atomically (no-op for an in-memory journal)."""
        if self.path is None:
            return
        data = json.dumps(self.state, indent=1, sort_keys=True, default=str)
        atomic_write(self.path, data, mode=0o600)  # temp file + fsync + os.replace: old or new state, never torn

    # -------------------------------------------------------------- private
    @staticmethod
    def _read(path: Path) -> dict[str, Any]:
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise BrokerError(
                f"journal {path} is unreadable ({exc}); move it aside to start fresh",
                call="journal.load",
                reason="corrupt journal",
            ) from None
        if not isinstance(state, dict) or state.get("version") != _VERSION:
            raise BrokerError(
                f"journal {path} is not a version-{_VERSION} journal; move it aside to start fresh",
                call="journal.load",
                reason="bad journal version",
            )
        return state
