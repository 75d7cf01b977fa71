"""An ASGI wrapper in front of the Bolt handler: request limits, /healthz and /readyz.

Slack's payloads are a few kilobytes, so a body over `FINEFIN_MAX_BODY_BYTES` (64 KB by default) is refused with
413 before it is read whole: at once when Content-Length says so, else as soon as the running count passes the limit
(the rest is never read and the connection is closed). Input Bolt would turn into a 500 with a traceback gets a
short 4xx here, before any signature check or listener runs:

- a missing or non-numeric `X-Slack-Request-Timestamp` -> 401 (the request cannot be verified);
- a body that is not UTF-8, or a form / JSON body that does not parse into an object -> 400 (Bolt parses the body
  before it checks the signature, so these come from anyone).

`/healthz` answers 200 while the process serves requests. `/readyz` runs the readiness checks (the semantic layer
answers `freshness()`, the state database if one is configured: any callable returning a dict of facts, raising
when not ready) and answers 200, or 503 when one fails; the JSON body carries each check's facts, e.g. the data's
freshness. Checks run in a thread with a timeout so a hung dependency cannot hang the probe.

Compose it in the HTTP entry point (bot/server.py) around the Bolt ASGI handler:
`return guard_http(asgi_app(build_app(sl, settings)), settings, sl)`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from bot.logs import request_context
from bot.settings import BotSettings
from semantic_layer.api import SemanticLayer

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
ReadinessCheck = Callable[[], Mapping[str, Any]]

HEALTH_PATH = "/healthz"
READY_PATH = "/readyz"
CHECK_TIMEOUT_SECONDS = 3.0


class BodyTooLarge(Exception):
    pass


@dataclass(frozen=True)
class Check:
    """A named readiness check: returns facts for the /readyz body, raises when the dependency is not ready."""

    name: str
    run: ReadinessCheck


def semantic_layer_check(sl: SemanticLayer) -> Check:
    """Ready when the semantic layer answers freshness; stale data is reported, not a reason to stop serving
    (answers then carry the stale-data warning)."""

    def run() -> Mapping[str, Any]:
        return freshness_facts(sl.freshness())

    return Check("semantic_layer", run)


def freshness_facts(fresh: Any) -> dict[str, Any]:
    """A Freshness as the /readyz body shows it (also computed in the answer workers: bot/runtime_worker.py)."""
    age = fresh.age
    return {
        "last_load_at": fresh.last_load_at.isoformat() if fresh.last_load_at else None,
        "age_seconds": None if age is None else round(age.total_seconds()),
        "sla_seconds": round(fresh.sla.total_seconds()),
        "stale": fresh.is_stale,
    }


@dataclass
class HttpGuard:
    app: ASGIApp
    max_body_bytes: int = 64 * 1024
    checks: Sequence[Check] = field(default_factory=tuple)
    check_timeout: float = CHECK_TIMEOUT_SECONDS

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)  # lifespan, websockets: not ours
            return
        with request_context(uuid.uuid4().hex[:12]):
            await self._http(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path, method = scope.get("path", ""), scope.get("method", "GET")
        if path in (HEALTH_PATH, READY_PATH):
            if method not in ("GET", "HEAD"):
                await _reply(send, 405, {"error": "method not allowed"})
            elif path == HEALTH_PATH:
                await _reply(send, 200, {"status": "ok"})
            else:
                await self._ready(send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        length = headers.get("content-length")
        if length is not None and not length.strip().isdigit():
            await _reply(send, 400, {"error": "bad Content-Length"})
            return
        if length is not None and int(length) > self.max_body_bytes:
            log.warning("refused %s %s: Content-Length %s over %d bytes", method, path, length, self.max_body_bytes)
            await _reply(send, 413, {"error": "request body too large"}, close=True)
            return
        try:
            body = await self._read_body(receive)
        except BodyTooLarge:
            log.warning("refused %s %s: body over %d bytes", method, path, self.max_body_bytes)
            await _reply(send, 413, {"error": "request body too large"}, close=True)
            return
        if method == "POST":
            refusal = _refusal(headers, body)
            if refusal is not None:
                status, why = refusal
                log.warning("refused %s %s: %s", method, path, why)
                await _reply(send, status, {"error": why})
                return
        await self._forward(scope, body, send)

    async def _read_body(self, receive: Receive) -> bytes:
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise BodyTooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    async def _forward(self, scope: Scope, body: bytes, send: Send) -> None:
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, replay, watch)
        except Exception:
            log.exception("unexpected error on %s %s", scope.get("method"), scope.get("path"))
            if not started:
                await _reply(send, 500, {"error": "internal error"})

    async def _ready(self, send: Send) -> None:
        results: dict[str, Any] = {}
        ready = True
        for check in self.checks:
            try:
                facts = await asyncio.wait_for(asyncio.to_thread(check.run), self.check_timeout)
                results[check.name] = {"ok": True, **facts}
            except TimeoutError:
                ready = False
                results[check.name] = {"ok": False, "error": f"no answer within {self.check_timeout:g} s"}
                log.warning("readiness check %s timed out", check.name)
            except Exception as exc:  # a failing dependency: reported by name; details stay in the log
                ready = False
                results[check.name] = {"ok": False, "error": type(exc).__name__}
                log.warning("readiness check %s failed", check.name, exc_info=True)
        await _reply(send, 200 if ready else 503, {"ready": ready, "checks": results})


def _refusal(headers: Mapping[str, str], body: bytes) -> tuple[int, str] | None:
    """Why a POST cannot be a Slack request, before Bolt sees it (Bolt would answer those with a 500)."""
    timestamp = headers.get("x-slack-request-timestamp")
    if timestamp is None or not timestamp.strip().isdigit():
        return 401, "missing or invalid X-Slack-Request-Timestamp"
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return 400, "body is not UTF-8"
    ctype = headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if ctype == "application/json":
            parsed: object = json.loads(text)
        elif ctype == "application/x-www-form-urlencoded" or not ctype:
            form = dict(parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text)))
            # interactivity: the form carries one JSON field
            parsed = json.loads(form["payload"]) if "payload" in form else form
        else:
            return 400, f"unsupported content type {ctype[:60]}"
    except ValueError:
        return 400, "malformed body"
    if not isinstance(parsed, dict):  # Bolt parses the body before verifying it, and expects an object
        return 400, "body is not an object"
    return None


async def _reply(send: Send, status: int, payload: Mapping[str, Any], close: bool = False) -> None:
    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def guard_http(
    app: ASGIApp, settings: BotSettings, sl: SemanticLayer | None = None, checks: Sequence[Check] = ()
) -> HttpGuard:
    """The Bolt ASGI handler behind the guard: body limit from FINEFIN_MAX_BODY_BYTES; readiness = the semantic
    layer (when given) plus `checks` (e.g. the state database's)."""
    all_checks = ([semantic_layer_check(sl)] if sl is not None else []) + list(checks)
    return HttpGuard(app, max_body_bytes=settings.max_body_bytes, checks=tuple(all_checks))
