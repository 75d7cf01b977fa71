"""Structured one-line logs: `key=value` with the request id, so one grep follows a request through the bot.

`request_context(request_id)` sets the id for the code it wraps (a context variable: it follows `asyncio.to_thread`
and tasks; a plain thread pool must set it again). Where it is set: the HTTP guard (one id per HTTP request), the
ack thread (bot/server.py copies the request's context), the dedupe middleware (Socket Mode: no HTTP guard), then
the id travels in the `AnswerJob` to the answer runtime, which sets it again around the work (worker process or
thread) and around the delivery and after-answer hooks (bot/runtime.py). `configure_logging()` is called by the
bot's entry points (`finefin bot http | socket`). Every record becomes one line — messages and tracebacks with
newlines included, which also keeps user text from forging log lines:

    ts=2026-11-30T02:40:01.123Z level=INFO logger=bot.http_guard request_id=3f2a9c1b7d4e msg="refused POST …"
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_request_id: ContextVar[str] = ContextVar("finefin_request_id", default="-")


def current_request_id() -> str:
    return _request_id.get()


def request_id_or_new() -> str:
    """The current request's id (set by the HTTP guard, or by the dedupe middleware in Socket Mode), else a new one."""
    current = _request_id.get()
    return current if current != "-" else uuid.uuid4().hex[:12]


@contextmanager
def request_context(request_id: str) -> Iterator[str]:
    token = _request_id.set(request_id)
    try:
        yield request_id
    finally:
        _request_id.reset(token)


class RequestIdFilter(logging.Filter):
    """Adds `record.request_id` (the current request's, else `-`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _request_id.get()
        return True


def _value(text: str) -> str:
    """Bare when safe, else a JSON string (quotes, backslashes and newlines escaped): always one line."""
    if text and all(ch.isprintable() and ch not in ' "=\\' for ch in text):
        return text
    return json.dumps(text, ensure_ascii=False)


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        at = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"
        fields = [
            ("ts", at),
            ("level", record.levelname),
            ("logger", record.name),
            ("request_id", getattr(record, "request_id", _request_id.get())),
            ("msg", record.getMessage()),
        ]
        if record.exc_info:
            fields.append(("exc", self.formatException(record.exc_info)))
        elif record.exc_text:
            fields.append(("exc", record.exc_text))
        return " ".join(f"{key}={_value(str(value))}" for key, value in fields)


def configure_logging(level: str | int | None = None) -> None:
    """Root logger → stderr, one key=value line per record with the request id. Level: `level`, else
    FINEFIN_LOG_LEVEL, else INFO. Replaces handlers set earlier (e.g. the CLI's basicConfig)."""
    handler = logging.StreamHandler()
    handler.setFormatter(KeyValueFormatter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level or os.environ.get("FINEFIN_LOG_LEVEL", "INFO").upper())
