"""The HTTP layer under robin_stocks: a mounted adapter and what it saw on the wire.

robin_stocks sends GETs without a timeout and hides HTTP errors. The
:func:`make_adapter_class` adapter, mounted on robin_stocks' session, adds a
default timeout and a client-side rate limit to every request and records each
request as an :class:`HttpEvent` (status, error, redacted error detail,
``Retry-After``). :func:`event_failure` classifies a failed event as a
:class:`Failure` (retryable? ambiguous for a POST?).

Example:
    >>> event_failure(HttpEvent("GET", "https://api.robinhood.com/quotes/", status=503)).retryable
    True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from maml_strategy.live.ratelimit import RateLimiter
from maml_strategy.live.redact import SecretRedactor
from maml_strategy.live.results import error_text
from maml_strategy.live.retry import RETRYABLE_STATUS

__all__ = ["HttpEvent", "make_adapter_class", "error_detail", "Failure", "Outcome", "event_failure"]


@dataclass
class HttpEvent:
    """One HTTP request seen by the adapter: URL (no query string), status or error."""

    method: str
    url: str  # without query string
    status: int | None = None
    error: BaseException | None = None
    detail: str = ""
    retry_after: float | None = None

    @property
    def failed(self) -> bool:
        """True for a transport error or an HTTP status of 400 or more."""
        return self.error is not None or (self.status is not None and self.status >= 400)


def make_adapter_class() -> type:
    """Builds the guarded adapter class lazily (requests is a robin_stocks dependency)."""
    import requests
    from requests.adapters import HTTPAdapter

    class GuardedAdapter(HTTPAdapter):
        """HTTPAdapter adding a default timeout, a rate limit and a request trace."""

        def __init__(self, timeout: float, limiter: RateLimiter, redactor: SecretRedactor) -> None:
            super().__init__()
            self.default_timeout = timeout
            self.limiter = limiter
            self.redactor = redactor
            self.trace: list[HttpEvent] = []

        def send(self, request: Any, **kwargs: Any) -> Any:  # type: ignore[override]
            if kwargs.get("timeout") is None:
                kwargs["timeout"] = self.default_timeout
            self.limiter.acquire()
            url = str(request.url).split("?", 1)[0]
            event = HttpEvent(method=str(request.method), url=url)
            self.trace.append(event)
            try:
                response = super().send(request, **kwargs)
            except requests.RequestException as exc:
                event.error = exc
                raise
            event.status = response.status_code
            if response.status_code >= 400:
                event.detail = error_detail(response, self.redactor)
                ra = response.headers.get("Retry-After")
                if ra:
                    try:
                        event.retry_after = float(ra)
                    except ValueError:
                        event.retry_after = None
            return response

    return GuardedAdapter


def error_detail(response: Any, redactor: SecretRedactor) -> str:
    """The redacted error message of a failed response's JSON body ("" if none), at most 300 characters."""
    try:
        body = response.json()
    except Exception:
        return ""
    text = error_text(body) or ""
    return redactor.redact(text)[:300]


@dataclass
class Failure:
    """Why a robin_stocks call failed, and whether retrying or a look-up is due."""

    reason: str
    retryable: bool = False
    ambiguous: bool = False  # for POSTs: the server may have acted
    retry_after: float | None = None


@dataclass
class Outcome:
    """What one robin_stocks call returned or why it failed, with its HTTP events."""

    result: Any = None
    failure: Failure | None = None
    events: list[HttpEvent] = field(default_factory=list)


def event_failure(event: HttpEvent) -> Failure:
    """Classifies a failed :class:`HttpEvent`: errors and 429/5xx are retryable and ambiguous."""
    if event.error is not None:
        import requests

        timeout = isinstance(event.error, requests.exceptions.Timeout)
        kind = "timeout" if timeout else "connection error"
        return Failure(
            f"{kind} on {event.method} {event.url} ({type(event.error).__name__})", retryable=True, ambiguous=True
        )
    status = int(event.status or 0)
    detail = f": {event.detail}" if event.detail else ""
    return Failure(
        f"HTTP {status} on {event.method} {event.url}{detail}",
        retryable=status in RETRYABLE_STATUS,
        ambiguous=status in RETRYABLE_STATUS,
        retry_after=event.retry_after,
    )
