"""Exponential back-off policy for idempotent (read) requests.

Only reads are retried; order POSTs never go through this policy (see
:meth:`maml_strategy.live.client.RobinhoodClient.place_market_order`).

Example:
    >>> policy = RetryPolicy(max_attempts=4, base_delay=1.0, max_delay=3.0)
    >>> [policy.delay(i) for i in range(1, 4)]
    [1.0, 2.0, 3.0]
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RetryPolicy", "RETRYABLE_STATUS"]

#: HTTP statuses worth retrying for a read: throttled or a server-side failure.
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to wait before retrying a failed read.

    Attributes:
        max_attempts: total attempts including the first (>= 1).
        base_delay: seconds before the first retry; doubles each time.
        max_delay: cap on a single delay.
    """

    max_attempts: int = 4  # first try + 3 retries
    base_delay: float = 1.0  # seconds before the first retry
    max_delay: float = 30.0  # cap per wait

    def delay(self, retry_number: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry ``retry_number`` (1-based).

        A server-provided ``Retry-After`` wins when it is longer, still capped.
        """
        d = min(self.max_delay, self.base_delay * (2 ** (retry_number - 1)))
        if retry_after is not None and retry_after > d:
            d = min(self.max_delay, retry_after)
        return float(d)
