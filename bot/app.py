"""Build the Bolt App: client with rate-limit retries, warm semantic layer, state DB, dedupe middleware, listeners."""

from __future__ import annotations

import functools
import logging
import threading
from typing import Any

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

from bot.assistant import Assistant
from bot.dedupe import dedupe_middleware
from bot.identity import IdentityResolver, UserLookup, user_lookup
from bot.listeners import register_listeners
from bot.settings import BotSettings
from bot.state import StateStore, shared_state
from bot.workspace import InstalledWorkspace, workspace_middleware
from finefin.errors import ConfigurationError
from semantic_layer.api import SemanticLayer

log = logging.getLogger(__name__)


def make_client(settings: BotSettings) -> WebClient:
    """A WebClient that waits and retries on 429 (Retry-After) and on connection errors."""
    if not settings.slack_bot_token:
        raise ConfigurationError("SLACK_BOT_TOKEN is not set.")
    return WebClient(
        token=settings.slack_bot_token,
        base_url=settings.slack_api_url,
        retry_handlers=[ConnectionErrorRetryHandler(max_retry_count=2), RateLimitErrorRetryHandler(max_retry_count=3)],
    )


class SerializedSemanticLayer:
    """Forwards every call to the wrapped layer under one lock.

    Bolt runs lazy listeners on a thread pool, while the semantic layer keeps one warm engine (and its DuckDB
    connection) per process, which is not promised to be thread-safe. Queries take milliseconds; rendering PDFs
    and charts happens outside the lock.
    """

    def __init__(self, sl: SemanticLayer) -> None:
        self._sl = sl
        self._lock = threading.RLock()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._sl, name)
        if not callable(attr):
            return attr

        @functools.wraps(attr)
        def locked(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return attr(*args, **kwargs)

        return locked


def warm(sl: SemanticLayer) -> None:
    """One cheap call at start, so the first user does not pay for engine start-up."""
    fresh = sl.freshness()
    log.info("semantic layer warm; last load %s (stale=%s)", fresh.last_load_at, fresh.is_stale)


def build_app(
    sl: SemanticLayer,
    settings: BotSettings,
    client: WebClient | None = None,
    lookup: UserLookup | None = None,
    state: StateStore | None = None,
) -> App:
    """`state`: the state database (default FINEFIN_STATE_URL or the embedded one), migrated at start."""
    if not settings.slack_signing_secret and not settings.slack_app_token:
        raise ConfigurationError("Set SLACK_SIGNING_SECRET (HTTP mode) or SLACK_APP_TOKEN (Socket Mode).")
    state = state or shared_state()
    client = client or make_client(settings)
    app = App(
        client=client,
        signing_secret=settings.slack_signing_secret or "socket-mode-unused",
        process_before_response=False,
    )
    sl = SerializedSemanticLayer(sl)  # type: ignore[assignment]
    warm(sl)
    lookup = lookup or user_lookup(settings, client)  # the directory file: only with FINEFIN_DEV_DIRECTORY
    assistant = Assistant(sl, settings, IdentityResolver(lookup, sl, settings))
    app.use(workspace_middleware(InstalledWorkspace(client)))  # the installed workspace only (auth.test)
    app.use(dedupe_middleware(state.deliveries, state.audit))  # retries de-duplicated across processes
    register_listeners(app, assistant)
    return app
