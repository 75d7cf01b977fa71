"""Keep native code's crash reports off the terminal: connectorx (Rust) prints a panic and its backtrace straight to
file descriptor 2 before Python sees the exception, so a dropped source connection would print dozens of lines
although the ingest reports it in one.

`captured_native_stderr()` points fd 2 at a temporary file for the duration of a block. If the block succeeds,
whatever was written is copied back to the real stderr (nothing is lost); if it fails, it goes to the debug log,
and the caller reports the failure in one line.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress

log = logging.getLogger(__name__)


@contextmanager
def captured_native_stderr() -> Iterator[None]:
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no usable fd 2 (embedded interpreters): nothing to protect
        yield
        return
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        failed = False
        try:
            yield
        except BaseException:
            failed = True
            raise
        finally:
            with suppress(OSError, ValueError):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            text = sink.read().decode(errors="replace")
            if text and failed:
                log.debug("native stderr of the failed read:\n%s", text)
            elif text:
                sys.stderr.write(text)
                sys.stderr.flush()
