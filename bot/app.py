"""Build the Bolt App: client with rate-limit retries, warm semantic layer, dedupe middleware, listeners."""

from __future__ import annotations

import logging

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

from bot.assistant import Assistant
from bot.dedupe import SeenKeys, dedupe_middleware
from bot.identity import DirectoryFileLookup, IdentityResolver, SlackUserLookup, UserLookup
from bot.listeners import register_listeners
from bot.settings import BotSettings
from finefin.errors import ConfigurationError
from semantic_layer.api import SemanticLayer

log = logging.getLogger(__name__)


def make_client(settings: BotSettings) -> WebClient:
    """A WebClient that waits and retries on 429 (Retry-After) and on connection errors."""
    if not settings.slack_bot_token:
        raise ConfigurationError("SLACK_BOT_TOKEN is not set.")
    return WebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url,
                     retry_handlers=[ConnectionErrorRetryHandler(max_retry_count=2),
                                     RateLimitErrorRetryHandler(max_retry_count=3)])


def warm(sl: SemanticLayer) -> None:
    """One cheap call at start, so the first user does not pay for engine start-up."""
    fresh = sl.freshness()
    log.info("semantic layer warm; last load %s (stale=%s)", fresh.last_load_at, fresh.is_stale)


def build_app(sl: SemanticLayer, settings: BotSettings, client: WebClient | None = None,
              lookup: UserLookup | None = None) -> App:
    if not settings.slack_signing_secret and not settings.slack_app_token:
        raise ConfigurationError("Set SLACK_SIGNING_SECRET (HTTP mode) or SLACK_APP_TOKEN (Socket Mode).")
    client = client or make_client(settings)
    app = App(client=client, signing_secret=settings.slack_signing_secret or "socket-mode-unused",
              process_before_response=False)
    warm(sl)
    if lookup is None:
        lookup = DirectoryFileLookup(settings.directory_file) if settings.directory_file else SlackUserLookup(client)
    assistant = Assistant(sl, settings, IdentityResolver(lookup, sl, settings))
    app.use(dedupe_middleware(SeenKeys()))
    register_listeners(app, assistant)
    return app
