"""One lock in front of an object shared by threads: the warm semantic layer (and the services built on it).

The bot answers on threads (the in-process runtime, Bolt's listeners) while the semantic layer keeps one warm engine
(and its DuckDB connection) per process, which is not promised to be thread-safe. Queries take milliseconds; rendering
PDFs and charts happens outside the lock.
"""

from __future__ import annotations

import functools
import threading
from typing import Any


class Serialized:
    """Forwards every call to `wrapped` under `lock` (a new re-entrant lock unless one is shared)."""

    def __init__(self, wrapped: Any, lock: threading.RLock | None = None) -> None:
        self._wrapped = wrapped
        self._lock = lock if lock is not None else threading.RLock()

    @property
    def wrapped(self) -> Any:
        return self._wrapped

    @property
    def lock(self) -> threading.RLock:
        return self._lock

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._wrapped, name)
        if not callable(attr):
            return attr

        @functools.wraps(attr)
        def locked(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return attr(*args, **kwargs)

        return locked


def unwrap(obj: Any) -> tuple[Any, threading.RLock | None]:
    """The object behind any number of Serialized wrappers, and the innermost lock (the one every caller shares)."""
    lock = None
    while isinstance(obj, Serialized):
        obj, lock = obj.wrapped, obj.lock
    return obj, lock
