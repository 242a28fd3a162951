"""Crash-safe on-disk journal of the live/paper broker's state.

The journal is a small JSON document holding orders (by ``ref_id``, with their
state), fills, positions, cash and per-day counters. Every change is written
atomically (temp file in the same directory, ``fsync``, ``os.replace``), so a
process killed at any instant leaves either the old or the new state, never a
torn file. A restarted broker loads it and resumes exactly where it stopped.

Example:
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "j.json")
    >>> j = Journal(path)
    >>> j.upsert_order("0b6f...", symbol="SPY", side="buy", size=1.0, status="submitted")["status"]
    'submitted'
    >>> Journal(path).orders["0b6f..."]["symbol"]
    'SPY'
"""

from __future__ import annotations

import copy
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from maml_strategy.errors import BrokerError

__all__ = ["Journal", "OPEN_STATES", "FINAL_STATES"]

logger = logging.getLogger(__name__)

#: Order states that still need tracking.
OPEN_STATES = frozenset({"submitting", "submitted", "accepted", "partial", "unknown"})
#: Terminal order states.
FINAL_STATES = frozenset({"filled", "cancelled", "rejected", "expired", "margin"})

_VERSION = 1


def _fresh_state() -> dict[str, Any]:
    return {
        "version": _VERSION,
        "mode": None,
        "cash": None,
        "positions": {},
        "orders": {},
        "fills": [],
        "day": {"date": None, "start_value": None, "orders": 0},
        "halt_reason": None,
    }


class Journal:
    """JSON journal with atomic writes; ``path=None`` keeps it in memory only.

    Args:
        path: journal file; loaded when it exists.

    Raises:
        BrokerError: the file exists but is unreadable or not a journal.
    """

    def __init__(self, path: str | os.PathLike[str] | None) -> None:
        self.path: Path | None = Path(path).expanduser() if path else None
        self.state: dict[str, Any] = _fresh_state()
        self.loaded = False
        if self.path is not None and self.path.exists():
            self.state = self._read(self.path)
            self.loaded = True

    # ------------------------------------------------------------- sections
    @property
    def orders(self) -> dict[str, dict[str, Any]]:
        """Orders by ``ref_id``."""
        return self.state["orders"]

    @property
    def fills(self) -> list[dict[str, Any]]:
        """Fills in arrival order."""
        return self.state["fills"]

    @property
    def positions(self) -> dict[str, dict[str, float]]:
        """Positions by symbol: ``{"size": float, "price": float}``."""
        return self.state["positions"]

    @property
    def cash(self) -> float | None:
        """Cash (None until first set)."""
        return self.state["cash"]

    @cash.setter
    def cash(self, value: float) -> None:
        self.state["cash"] = float(value)

    @property
    def day(self) -> dict[str, Any]:
        """Per-day counters: ``date``, ``start_value``, ``orders``."""
        return self.state["day"]

    @property
    def mode(self) -> str | None:
        """``"paper"`` or ``"live"`` once bound."""
        return self.state["mode"]

    @property
    def halt_reason(self) -> str | None:
        """Why trading is halted (daily loss limit), or None."""
        return self.state["halt_reason"]

    @halt_reason.setter
    def halt_reason(self, value: str | None) -> None:
        self.state["halt_reason"] = value

    # --------------------------------------------------------------- update
    def bind_mode(self, mode: str) -> None:
        """Records the trading mode; a journal never switches between paper and live.

        Raises:
            BrokerError: the journal belongs to the other mode.
        """
        current = self.state["mode"]
        if current is None:
            self.state["mode"] = mode
            self.save()
        elif current != mode:
            raise BrokerError(
                f"journal {self.path} was written in {current} mode; refusing to use it in {mode} mode "
                "(pass another journal path)",
                call="journal.bind_mode",
                reason="mode mismatch",
            )

    def upsert_order(self, ref_id: str, *, save: bool = True, **fields: Any) -> dict[str, Any]:
        """Creates or updates the order ``ref_id`` and (by default) saves."""
        rec = self.orders.setdefault(ref_id, {"ref_id": ref_id})
        rec.update(fields)
        if save:
            self.save()
        return rec

    def add_fill(self, fill: dict[str, Any], *, save: bool = True) -> bool:
        """Appends a fill unless one with the same ``fill_id`` exists; returns True if added."""
        fid = fill.get("fill_id")
        if fid is not None and any(f.get("fill_id") == fid for f in self.fills):
            return False
        self.fills.append(dict(fill))
        if save:
            self.save()
        return True

    def snapshot(self) -> dict[str, Any]:
        """A deep copy of the state (for comparisons and reports)."""
        return copy.deepcopy(self.state)

    def save(self) -> None:
        """Writes the state atomically (no-op for an in-memory journal)."""
        if self.path is None:
            return
        directory = self.path.parent
        directory.mkdir(parents=True, exist_ok=True)
        data = json.dumps(self.state, indent=1, sort_keys=True, default=str)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=str(directory))
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        try:  # persist the rename itself (best effort; not supported everywhere)
            dfd = os.open(str(directory), os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError:
            pass

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
        fresh = _fresh_state()
        for key, default in fresh.items():
            state.setdefault(key, default)
        return state
