"""Run modes: Socket Mode (worker process) and HTTP behind uvicorn (web process, the Bolt ASGI adapter)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.asgi import SlackRequestHandler
from slack_bolt.adapter.asgi.http_request import AsgiHttpRequest
from slack_bolt.request import BoltRequest
from slack_bolt.response import BoltResponse

from bot.app import SerializedSemanticLayer, build_app
from bot.http_guard import HttpGuard, guard_http
from bot.settings import BotSettings, get_bot_settings
from finefin.errors import ConfigurationError
from semantic_layer.api import SemanticLayer

log = logging.getLogger(__name__)
EVENTS_PATH = "/slack/events"


class ThreadedSlackRequestHandler(SlackRequestHandler):
    """The Bolt ASGI adapter, dispatching in a worker thread so one slow ack never blocks the event loop."""

    async def dispatch(self, request: AsgiHttpRequest) -> BoltResponse:
        body = await request.get_raw_body()
        bolt_request = BoltRequest(body=body, query=request.query_string, headers=request.get_headers())
        return await asyncio.to_thread(self.app.dispatch, bolt_request)


def _semantic_layer() -> SemanticLayer:
    from semantic_layer import get_semantic_layer  # type: ignore[attr-defined]  # written by the semantic layer

    return get_semantic_layer()


def asgi_app(app: App) -> ThreadedSlackRequestHandler:
    return ThreadedSlackRequestHandler(app, path=EVENTS_PATH)


def create_asgi_app() -> HttpGuard:
    """uvicorn factory (`uvicorn --factory bot.server:create_asgi_app`): settings and semantic layer from env."""
    settings = get_bot_settings()
    if not settings.slack_signing_secret:
        raise ConfigurationError("SLACK_SIGNING_SECRET is not set: HTTP mode verifies every request with it.")
    return guard_http(asgi_app(build_app(sl := SerializedSemanticLayer(_semantic_layer()), settings)), settings, sl)


def run_http(host: str, port: int) -> None:
    """One worker: the semantic layer engine and the retry dedupe live in the process."""
    import uvicorn

    uvicorn.run(
        "bot.server:create_asgi_app", factory=True, host=host, port=port, workers=1, log_level="info", access_log=False
    )


def run_socket_mode(settings: BotSettings | None = None, sl: SemanticLayer | None = None) -> None:
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    settings = settings or get_bot_settings()
    if not settings.slack_app_token:
        raise ConfigurationError("SLACK_APP_TOKEN is not set: Socket Mode needs an app-level token (xapp-…).")
    app = build_app(sl or _semantic_layer(), settings)
    SocketModeHandler(app, settings.slack_app_token).start()


def web_client(settings: BotSettings | None = None) -> Any:
    from bot.app import make_client

    return make_client(settings or get_bot_settings())
