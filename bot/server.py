"""Run modes: Socket Mode (worker process) and HTTP behind uvicorn (web process, the Bolt ASGI adapter).

Both run the same App, which only acks and queues; answers are computed by the answer runtime (bot/runtime.py):
FINEFIN_ANSWER_WORKERS worker processes per web process (0: threads in this process). Nothing here assumes one web
process: `finefin bot http --workers N` (or several instances) each run their own pool.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.asgi import SlackRequestHandler
from slack_bolt.adapter.asgi.http_request import AsgiHttpRequest
from slack_bolt.request import BoltRequest
from slack_bolt.response import BoltResponse

from bot.app import SerializedSemanticLayer, build_app
from bot.http_guard import Check, HttpGuard, guard_http
from bot.logs import configure_logging
from bot.runtime import AnswerRuntime, ProcessAnswers
from bot.runtime_settings import RuntimeSettings, get_runtime_settings
from bot.runtime_worker import DEFAULT_SEMANTIC_LAYER, WorkerConfig
from bot.settings import BotSettings, get_bot_settings
from bot.state import StateStore, shared_state
from bot.workspace import UNAVAILABLE
from finefin.errors import ConfigurationError
from semantic_layer.api import SemanticLayer

log = logging.getLogger(__name__)
EVENTS_PATH = "/slack/events"
HEALTHCHECK_SECONDS = 30
ACK_THREADS = 16  # acks are ~1 ms of CPU each; enough threads that a slow middleware call never queues the others


class ThreadedSlackRequestHandler(SlackRequestHandler):
    """The Bolt ASGI adapter: a slash command's ack on the event loop itself once warm, anything else on a thread pool
    of its own, so the event loop never blocks.

    A slash command's ack does no I/O once the installation is known (the workspace check's `auth.test` and Bolt's
    own authorization are cached after the first request; the delivery claim is taken after the ack, bot/dedupe.py):
    verify, parse, queue, ack, ~90 µs of CPU. Handing it to a thread costs more than that under a burst: every hop
    between the event loop and an ack thread waits for the GIL among all the threads of the process. Measured
    (bench/bench_ack.py, 3 rounds of 100 concurrent acks): burst ack p99 63-146 ms on the event loop against 86-184 ms
    through the ack threads (p50 27-51 against 66-100 ms); a bare ASGI app under the same uvicorn: p99 14-24 ms.
    So: the first slash command, and the first after `tokens_revoked` / `app_uninstalled` (whose handling makes the
    next request ask `auth.test` again), go through a thread; then slash commands are dispatched inline. Events and
    interactivity (which may claim in the state database before their ack) always use the threads.
    """

    def __init__(self, app: App, path: str = EVENTS_PATH, threads: int = ACK_THREADS, inline: bool = True) -> None:
        super().__init__(app, path=path)
        self._ack_pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="ack")
        self.inline = inline
        self._warm = False  # a slash command went through once since start (or since the last lifecycle event)

    async def dispatch(self, request: AsgiHttpRequest) -> BoltResponse:
        body = await request.get_raw_body()
        bolt_request = BoltRequest(body=body, query=request.query_string, headers=request.get_headers())
        command = _is_slash_command(body)
        if not command and _is_lifecycle_event(body):
            self._warm = False  # the next request asks auth.test again (bot/workspace.py): not on the event loop
        if command and self.inline and self._warm:
            return self.app.dispatch(bolt_request)  # runs in this request's context: its request id included
        # run_in_executor does not carry context variables: the ack thread gets this request's (its request id, set
        # by the HTTP guard, is then in every log line of the middlewares and the listener, and in the AnswerJob)
        context = contextvars.copy_context()
        response = await asyncio.get_running_loop().run_in_executor(self._ack_pool, context.run, self.app.dispatch,
                                                                    bolt_request)
        if command and response.status == 200 and not any(m in str(response.body) for m in _INSTALLATION_UNKNOWN):
            self._warm = True  # auth.test answered (else the refusal says so, and the next command asks it again)
        return response


# what a command is told when auth.test failed: bot/workspace.py's refusal, Bolt's single-team authorization error
_INSTALLATION_UNKNOWN = (UNAVAILABLE, "your installation with this app is no longer available")


def _is_slash_command(body: str) -> bool:
    """A form-encoded slash command payload (`command=/…`); interactivity comes as `payload=…`, events as JSON."""
    return not body.startswith("{") and (body.startswith("command=%2F") or "&command=%2F" in body)


def _is_lifecycle_event(body: str) -> bool:
    return body.startswith("{") and ('"tokens_revoked"' in body or '"app_uninstalled"' in body)


def _semantic_layer() -> SemanticLayer:
    from semantic_layer import get_semantic_layer  # type: ignore[attr-defined]  # written by the semantic layer

    return get_semantic_layer()


def asgi_app(app: App) -> ThreadedSlackRequestHandler:
    return ThreadedSlackRequestHandler(app, path=EVENTS_PATH)


def answer_runtime(settings: BotSettings, runtime: RuntimeSettings | None = None,
                   semantic_layer: str = DEFAULT_SEMANTIC_LAYER) -> AnswerRuntime | None:
    """The worker-process runtime, warm before it is returned; None when FINEFIN_ANSWER_WORKERS=0 (in-process)."""
    runtime = runtime or get_runtime_settings()
    if runtime.answer_workers == 0:
        return None
    config = WorkerConfig(settings, semantic_layer, log_level=logging.getLogger().getEffectiveLevel(),
                          nice=runtime.answer_worker_nice)
    answers = ProcessAnswers(config, runtime.answer_workers, max_pending=runtime.max_pending,
                             delivery_threads=runtime.delivery_threads, answer_timeout=runtime.answer_timeout_s)
    if not answers.wait_ready(runtime.warmup_seconds):
        log.warning("answer workers not all warm after %.0f s; serving anyway", runtime.warmup_seconds)
    return answers


def build_server_app(settings: BotSettings, state: StateStore | None = None) -> App:
    """The App of a web or Socket Mode process: answers in worker processes, or in-process when configured so."""
    answers = answer_runtime(settings)
    return build_app(_semantic_layer() if answers is None else None, settings, answers=answers, state=state)


def state_check(state: StateStore) -> Check:
    """Ready when the state database (delivery claims, audit log) answers."""

    def run() -> dict[str, Any]:
        state.ping()
        return {"reachable": True}

    return Check("state_db", run)


def worker_freshness_check(answers: ProcessAnswers, wait: float = 2.0) -> Check:
    """Worker mode: the data freshness as the answer workers see it (ProcessAnswers.freshness)."""
    return Check("semantic_layer", lambda: answers.freshness(wait))


def create_asgi_app() -> HttpGuard:
    """uvicorn factory (`uvicorn --factory bot.server:create_asgi_app`): settings and semantic layer from env.

    Behind the HTTP guard (body limit, malformed requests, /healthz, /readyz). /readyz checks the state database and
    the data freshness: from the semantic layer when this process answers in-process, else asked of an answer
    worker (this process never loads the semantic layer).
    """
    settings = get_bot_settings()
    if not settings.slack_signing_secret:
        raise ConfigurationError("SLACK_SIGNING_SECRET is not set: HTTP mode verifies every request with it.")
    configure_logging()
    state = shared_state()
    answers = answer_runtime(settings)
    sl = SerializedSemanticLayer(_semantic_layer()) if answers is None else None
    app = build_app(sl, settings, answers=answers, state=state)  # type: ignore[arg-type]
    checks = [state_check(state)]
    if isinstance(answers, ProcessAnswers):
        checks.append(worker_freshness_check(answers))
    return guard_http(asgi_app(app), settings, sl, checks=checks)  # type: ignore[arg-type]


def run_http(host: str, port: int, workers: int = 1) -> None:
    """`workers` web processes (uvicorn), each with its own pool of answer workers; state is not per process."""
    import uvicorn

    uvicorn.run(
        "bot.server:create_asgi_app", factory=True, host=host, port=port, workers=workers, log_level="info",
        access_log=False,
        # with several web processes uvicorn pings each one and kills it after 5 s of silence; a web process starting
        # its answer workers on a busy host can be that slow to answer (seen at load ~12 on 2 cores)
        timeout_worker_healthcheck=HEALTHCHECK_SECONDS,
    )


def run_socket_mode(settings: BotSettings | None = None, sl: SemanticLayer | None = None) -> None:
    """Socket Mode: `sl` given, answers in this process; else the worker-process runtime, as in HTTP mode."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    settings = settings or get_bot_settings()
    if not settings.slack_app_token:
        raise ConfigurationError("SLACK_APP_TOKEN is not set: Socket Mode needs an app-level token (xapp-…).")
    app = build_app(sl, settings) if sl is not None else build_server_app(settings)
    SocketModeHandler(app, settings.slack_app_token).start()


def web_client(settings: BotSettings | None = None) -> Any:
    from bot.app import make_client

    return make_client(settings or get_bot_settings())
