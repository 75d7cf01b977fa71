"""Build the Bolt App: client with rate-limit retries, warm semantic layer, state DB, dedupe middleware, listeners."""

from __future__ import annotations

import logging

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

from bot.assistant import Assistant
from bot.dedupe import dedupe_middleware
from bot.identity import IdentityResolver, Revocations, UserLookup, user_lookup
from bot.listeners import register_listeners
from bot.runtime import AnswerRuntime, InProcessAnswers
from bot.serialized import Serialized
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


class SerializedSemanticLayer(Serialized):
    """The semantic layer behind one lock (bot/serialized.py says why)."""


def warm(sl: SemanticLayer) -> None:
    """One cheap call at start, so the first user does not pay for engine start-up."""
    fresh = sl.freshness()
    log.info("semantic layer warm; last load %s (stale=%s)", fresh.last_load_at, fresh.is_stale)


def build_assistant(
    sl: SemanticLayer, settings: BotSettings, client: WebClient, lookup: UserLookup | None = None,
    revocations: Revocations | None = None,
) -> Assistant:
    """The Assistant over a warm, serialized semantic layer; users from Slack (users.info), or the directory file
    where FINEFIN_DEV_DIRECTORY allows it. `revocations`: identity changes shared by every process (the state DB).

    Built once per answer worker process (bot/runtime_worker.py), or in the web process when it answers in-process.
    """
    sl = SerializedSemanticLayer(sl)  # type: ignore[assignment]
    warm(sl)
    lookup = lookup or user_lookup(settings, client)
    return Assistant(sl, settings, IdentityResolver(lookup, sl, settings, revocations=revocations))


def build_app(
    sl: SemanticLayer | None,
    settings: BotSettings,
    client: WebClient | None = None,
    lookup: UserLookup | None = None,
    answers: AnswerRuntime | None = None,
    state: StateStore | None = None,
) -> App:
    """The Bolt App of the web (or Socket Mode) process: it only acks and hands the work to `answers`.

    `answers` None: an in-process runtime over `sl` (threads; tests and FINEFIN_ANSWER_WORKERS=0). Listeners run
    before the response is sent (`process_before_response=True`): they do nothing but parse, queue and ack, so no
    Bolt executor thread (and no 10 ms polling for the ack) sits between the request and its response.
    `state`: the state database (default FINEFIN_STATE_URL or the embedded one), migrated at start: delivery claims
    and the audit log, and the identity revocations every process's resolver consults.
    """
    if not settings.slack_signing_secret and not settings.slack_app_token:
        raise ConfigurationError("Set SLACK_SIGNING_SECRET (HTTP mode) or SLACK_APP_TOKEN (Socket Mode).")
    state = state or shared_state()
    client = client or make_client(settings)
    app = App(
        client=client,
        signing_secret=settings.slack_signing_secret or "socket-mode-unused",
        process_before_response=True,
    )
    if answers is None:
        if sl is None:
            raise ConfigurationError("build_app needs a semantic layer or an answer runtime.")
        assistant = build_assistant(sl, settings, client, lookup, state.revocations)
        assistant.subscriptions = state.subscriptions  # type: ignore[attr-defined]  # commands and Home read it
        answers = InProcessAnswers(assistant)
    workspace = InstalledWorkspace(client)
    app.use(workspace_middleware(workspace, state.audit))  # the installed workspace only (auth.test), refusals audited
    app.use(dedupe_middleware(state.deliveries, state.audit))  # retries de-duplicated across processes
    register_listeners(app, answers, state.revocations, state.subscriptions.disable_owner)
    return app
