"""Drop repeated deliveries: Slack resends a request it thinks timed out (`X-Slack-Retry-Num`)."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from slack_bolt.request import BoltRequest
from slack_bolt.response import BoltResponse

log = logging.getLogger(__name__)


class SeenKeys:
    """A bounded, thread-safe set of keys that forgets them after `ttl` seconds."""

    def __init__(
        self, ttl: float = 3600.0, max_size: int = 50_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl, self.max_size, self.clock = ttl, max_size, clock
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def first_time(self, key: str) -> bool:
        """True the first time a key is offered within the TTL, False afterwards."""
        now = self.clock()
        with self._lock:
            while self._seen and (len(self._seen) >= self.max_size or next(iter(self._seen.values())) < now - self.ttl):
                self._seen.popitem(last=False)
            if key in self._seen:
                return False
            self._seen[key] = now
            return True


def delivery_key(body: dict[str, Any], raw_body: str) -> str:
    """trigger_id (slash commands, actions) or event_id (events); else the body's hash (a retry resends it)."""
    for name in ("trigger_id", "event_id"):
        value = body.get(name)
        if isinstance(value, str) and value:
            return f"{name}:{value}"
    return "sha256:" + hashlib.sha256(raw_body.encode()).hexdigest()


def dedupe_middleware(seen: SeenKeys) -> Callable[..., BoltResponse | None]:
    def middleware(req: BoltRequest, body: dict[str, Any], next: Callable[[], BoltResponse]) -> BoltResponse | None:
        if body.get("type") == "url_verification" or body.get("ssl_check"):
            return next()
        if not seen.first_time(delivery_key(body, req.raw_body)):
            retry = (req.headers.get("x-slack-retry-num") or ["-"])[0]
            log.info(
                "duplicate delivery ignored (retry %s, reason %s)",
                retry,
                (req.headers.get("x-slack-retry-reason") or ["-"])[0],
            )
            return BoltResponse(status=200, body="")
        return next()

    return middleware
