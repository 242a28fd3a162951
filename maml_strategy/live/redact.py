"""Keeping secrets out of logs: redaction of records and of robin_stocks prints.

:data:`REDACTOR` is the process-wide :class:`SecretRedactor`; once installed it
masks every registered secret (password, MFA secret and code, tokens) in every
log record. :class:`LogStream` and :func:`capture_prints` turn what
robin_stocks prints into redacted DEBUG log lines.

Example:
    >>> r = SecretRedactor(); r.add("hunter22")
    >>> r.redact("password=hunter22")
    'password=***'
"""

from __future__ import annotations

import contextlib
import io
import logging
import threading
import traceback
from typing import Any, Iterator

__all__ = ["SecretRedactor", "RedactingFilter", "REDACTOR", "LogStream", "capture_prints"]


class SecretRedactor:
    """Replaces registered secret strings with ``***`` in text.

    Example:
        >>> r = SecretRedactor(); r.add("hunter22")
        >>> r.redact("password=hunter22")
        'password=***'
    """

    MASK = "***"

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._lock = threading.Lock()
        self._installed = False

    def add(self, *values: object) -> None:
        """Registers secrets (strings shorter than 4 characters are ignored)."""
        with self._lock:
            for v in values:
                if isinstance(v, str) and len(v) >= 4:
                    self._secrets.add(v)

    def discard(self, *values: object) -> None:
        """Forgets secrets (e.g. after logout)."""
        with self._lock:
            for v in values:
                self._secrets.discard(v)  # type: ignore[arg-type]

    @property
    def active(self) -> bool:
        """True when at least one secret is registered."""
        return bool(self._secrets)

    def redact(self, text: str) -> str:
        """Returns ``text`` with every registered secret masked."""
        if not self._secrets or not text:
            return text
        for s in sorted(self._secrets, key=len, reverse=True):
            if s in text:
                text = text.replace(s, self.MASK)
        return text

    def redact_record(self, record: logging.LogRecord) -> logging.LogRecord:
        """Masks secrets in a log record's message and exception text, in place."""
        if not self._secrets:
            return record
        try:
            msg = record.getMessage()
        except Exception:  # a malformed record is logging's business, not ours
            return record
        red = self.redact(msg)
        if red != msg:
            record.msg = red
            record.args = None
        if record.exc_info and record.exc_info[0] is not None:
            text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
            record.exc_text = self.redact(text)
        elif record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return record

    def install(self) -> None:
        """Redacts every log record created from now on (all loggers), idempotently.

        Uses a log-record factory so records of third-party loggers (urllib3,
        robin_stocks, ...) and handlers added later are covered too, and attaches
        a :class:`RedactingFilter` to the root logger's current handlers.
        """
        with self._lock:
            if self._installed:
                return
            previous = logging.getLogRecordFactory()

            def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
                return self.redact_record(previous(*args, **kwargs))

            logging.setLogRecordFactory(factory)
            self._installed = True
        flt = RedactingFilter(self)
        for handler in logging.getLogger().handlers:
            if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                handler.addFilter(flt)


class RedactingFilter(logging.Filter):
    """Logging filter masking registered secrets (attach to handlers)."""

    def __init__(self, redactor: "SecretRedactor | None" = None) -> None:
        super().__init__()
        self._redactor = redactor if redactor is not None else REDACTOR

    def filter(self, record: logging.LogRecord) -> bool:  # noqa: A003 - logging API
        self._redactor.redact_record(record)
        return True


#: Process-wide redactor used by the client (secrets are process-wide too).
REDACTOR = SecretRedactor()


class LogStream(io.TextIOBase):
    """File-like that turns robin_stocks' prints into redacted DEBUG log lines."""

    def __init__(self, log: logging.Logger, redactor: SecretRedactor) -> None:
        super().__init__()
        self._log = log
        self._redactor = redactor
        self._buf = ""

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:
        self._buf += s
        while "\n" in self._buf:
            line, self._buf = self._buf.split("\n", 1)
            if line.strip():
                self._log.debug("robin_stocks: %s", self._redactor.redact(line))
        return len(s)

    def flush(self) -> None:
        if self._buf.strip():
            self._log.debug("robin_stocks: %s", self._redactor.redact(self._buf))
        self._buf = ""


@contextlib.contextmanager
def capture_prints(log: logging.Logger, redactor: SecretRedactor) -> Iterator[None]:
    """Routes bare ``print`` calls (robin_stocks login/logout) to ``log``, redacted.

    Args:
        log: logger receiving one DEBUG line per printed line.
        redactor: masks secrets in the printed text.

    Example:
        >>> with capture_prints(logging.getLogger("x"), SecretRedactor()):
        ...     print("not on stdout")
    """
    stream = LogStream(log, redactor)
    with contextlib.redirect_stdout(stream):
        try:
            yield
        finally:
            stream.flush()
