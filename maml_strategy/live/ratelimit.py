"""Client-side rate limiting for Robinhood requests.

Robinhood throttles clients that send more than about one request a second;
:class:`RateLimiter` spaces calls by a minimum interval. Clock and sleep are
injectable so tests run instantly.

Example:
    >>> t = [0.0]
    >>> rl = RateLimiter(1.0, clock=lambda: t[0], sleep=lambda s: t.__setitem__(0, t[0] + s))
    >>> _ = rl.acquire(); _ = rl.acquire(); t[0]
    1.0
"""

from __future__ import annotations

import threading
import time
from typing import Callable

__all__ = ["RateLimiter"]


class RateLimiter:
    """Spaces successive :meth:`acquire` calls at least ``min_interval`` seconds apart.

    Args:
        min_interval: minimum seconds between two requests (0 disables).
        clock: monotonic clock in seconds (default :func:`time.monotonic`).
        sleep: sleep function (default :func:`time.sleep`).
    """

    def __init__(
        self,
        min_interval: float = 1.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if min_interval < 0:
            raise ValueError(f"min_interval must be >= 0, got {min_interval}")
        self.min_interval = float(min_interval)
        self._clock = clock
        self._sleep = sleep
        self._last: float | None = None
        self._lock = threading.Lock()
        self.waited = 0.0  # total seconds slept, for diagnostics/tests

    def acquire(self) -> float:
        """Blocks until the next request may go out; returns the seconds waited."""
        with self._lock:
            now = self._clock()
            wait = 0.0
            if self._last is not None and self.min_interval > 0:
                wait = self._last + self.min_interval - now
            if wait > 0:
                self._sleep(wait)
                self.waited += wait
                now = self._clock()
            self._last = max(now, (self._last or now))
            return max(wait, 0.0)
