"""One refresh at a time per data dir: an exclusive `flock` on `<data_dir>/refresh.lock`.

Two refreshes on one data dir (a manual `finefin refresh` during the scheduled one) share dlt's local state and the
build file, and one of them can leave the dlt folder unusable. So every step that writes them (ingest, dbt build,
publish) holds this lock.

Why fail at once by default (FINEFIN_REFRESH_LOCK_WAIT_S=0): the running refresh is already loading the newest data,
so a second one queued behind it would only repeat its work; the scheduler retries a failed task with back-off, and a
person running the CLI reads one clear line instead of a command that seems to hang. A positive wait is allowed
(bounded) for callers that prefer to queue.

The kernel drops a `flock` when its holder dies, so a killed refresh never leaves a stale lock. Within one process
the lock is re-entrant (nested steps, or Airflow's `dag.test()` running every task in one process).
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from finefin.errors import RefreshRunningError

LOCK_NAME = "refresh.lock"
_POLL_SECONDS = 0.2

_held: dict[Path, tuple[IO[str], int]] = {}  # lock path -> (open file, depth) held by this process
_guard = threading.Lock()


def lock_path(data_dir: Path) -> Path:
    return Path(data_dir).expanduser().resolve() / LOCK_NAME


def holder(data_dir: Path) -> str:
    """Who holds the lock, as written by the holder: `pid 123, since 2026-01-01T00:00:00+00:00` (or "unknown")."""
    try:
        text = lock_path(data_dir).read_text().strip()
    except OSError:
        return "unknown"
    return text or "unknown"


def acquire(data_dir: Path, wait_seconds: float = 0.0) -> None:
    """Take the lock (re-entrant in this process). Raises RefreshRunningError if another process holds it after
    `wait_seconds`."""
    path = lock_path(data_dir)
    with _guard:
        if path in _held:
            handle, depth = _held[path]
            _held[path] = (handle, depth + 1)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = path.open("a+")
        deadline = time.monotonic() + max(0.0, wait_seconds)
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    handle.close()
                    waited = f" (waited {wait_seconds:g} s)" if wait_seconds > 0 else ""
                    raise RefreshRunningError(
                        f"a refresh is already running ({holder(data_dir)}) on {path.parent}{waited}: "
                        "try again when it has finished") from None
                time.sleep(_POLL_SECONDS)
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}, since {datetime.now(UTC).isoformat(timespec='seconds')}\n")
        handle.flush()
        _held[path] = (handle, 1)


def release(data_dir: Path) -> None:
    """Release one level of the lock; the last release unlocks the file. Releasing a lock not held does nothing."""
    path = lock_path(data_dir)
    with _guard:
        if path not in _held:
            return
        handle, depth = _held[path]
        if depth > 1:
            _held[path] = (handle, depth - 1)
            return
        del _held[path]
        try:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        finally:
            handle.close()


@contextmanager
def refresh_lock(data_dir: Path, wait_seconds: float = 0.0) -> Iterator[None]:
    """Hold the data dir's refresh lock for the block."""
    acquire(data_dir, wait_seconds)
    try:
        yield
    finally:
        release(data_dir)
