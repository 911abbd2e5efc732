"""What may reach a log line: no full phone number, no e-mail, no token, no secret.

Callers may be trafficking victims and logs travel further than the database
(files, journald, support tickets). One redactor rewrites every record as it is
made, whatever the logger (ours, SQLAlchemy's, rq's, gunicorn's access log): it
is installed as the process's log record factory by ``create_app`` and by the
gunicorn configuration, so no handler or logger added later can bypass it.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterable
from typing import Any

from hotline.privacy import mask_phone

PHONE = re.compile(r"(?<![\w+*])\+?\d(?: ?\d){7,14}(?![\w*])")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
SECRET_PARAM = re.compile(
    r"((?:token|password|passwd|secret|api_?key|apikey|otp|code)=)[^&\s\"']+", re.IGNORECASE)
URL_PASSWORD = re.compile(r"(://[^:/\s@]*:)[^@\s/]+@")
MIN_SECRET = 6  # shorter values would blank out ordinary words


def _mask_number(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return mask_phone("+" + digits) if match.group(0).startswith("+") else "[number]"


class Redactor(logging.Filter):
    """Rewrites a record's message and traceback; also usable as a handler filter."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def add_secrets(self, values: Iterable[str | None]) -> None:
        self.secrets |= {v for v in values if v and len(v) >= MIN_SECRET}

    def redact(self, text: str) -> str:
        for secret in sorted(self.secrets, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, "[secret]")
        text = SECRET_PARAM.sub(r"\1[redacted]", text)
        text = URL_PASSWORD.sub(r"\1[redacted]@", text)
        text = EMAIL.sub("[email]", text)
        return PHONE.sub(_mask_number, text)

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "hotline_redacted", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # a malformed call: keep the template, drop the arguments
            message = f"{record.msg} [arguments dropped]"
        record.msg, record.args = self.redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        record.hotline_redacted = True
        return True


REDACTOR = Redactor()


def install(secrets: Iterable[str | None] = ()) -> Redactor:
    """Redact every record this process makes from now on; safe to call again."""
    REDACTOR.add_secrets(secrets)
    factory = logging.getLogRecordFactory()
    if not getattr(factory, "hotline_redacting", False):
        def make(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = factory(*args, **kwargs)
            REDACTOR.filter(record)
            return record

        make.hotline_redacting = True  # type: ignore[attr-defined]
        logging.setLogRecordFactory(make)
    return REDACTOR


class Every:
    """Logs a recurring condition once per interval with a count, not once per request."""

    def __init__(self, logger: logging.Logger, seconds: float) -> None:
        self.logger, self.seconds = logger, seconds
        self._last: dict[str, float] = {}
        self._count: dict[str, int] = {}
        self._lock = threading.Lock()

    def warning(self, key: str, message: str, *args: Any) -> bool:
        """Log ``message`` if ``key`` was not logged within the interval; True if logged."""
        now = time.monotonic()
        with self._lock:
            self._count[key] = self._count.get(key, 0) + 1
            last = self._last.get(key)
            if last is not None and now - last < self.seconds:
                return False
            count, self._count[key], self._last[key] = self._count[key], 0, now
        self.logger.warning(message + " (%d time(s) since last said)", *args, count)
        return True
