"""The HTTP guard under a real uvicorn server on loopback: body limit, malformed requests, /healthz, /readyz."""

# ruff: noqa: E402 - assertion rewriting must be registered before the support module is imported
from __future__ import annotations

import pytest

pytest.register_assert_rewrite("tests.bot_support")

import http.client
import json
import select
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

from bot.http_guard import Check, HttpGuard, guard_http
from bot.server import EVENTS_PATH, asgi_app
from tests.bot_support import People, command_body, settings_for, sign

pytest_plugins = ["tests.bot_support"]
LIMIT = 64 * 1024


def _serve(app: Any) -> Iterator[tuple[str, int]]:
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    yield "127.0.0.1", sock.getsockname()[1]
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture()
def server(bolt_app: Any, people: People, semantic_layer_impl: Any) -> Iterator[tuple[str, int]]:
    settings = settings_for(people)
    yield from _serve(guard_http(asgi_app(bolt_app), settings, semantic_layer_impl))


def _request(
    server: tuple[str, int], method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(*server, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def test_healthz_and_readyz_with_freshness(server: tuple[str, int], semantic_layer_impl: Any) -> None:
    status, body = _request(server, "GET", "/healthz")
    assert status == 200 and json.loads(body) == {"status": "ok"}
    status, body = _request(server, "GET", "/readyz")
    ready = json.loads(body)
    fresh = semantic_layer_impl.freshness()
    assert status == 200 and ready["ready"] is True
    sl_check = ready["checks"]["semantic_layer"]
    assert sl_check["ok"] is True and sl_check["stale"] is False
    assert sl_check["last_load_at"] == fresh.last_load_at.isoformat()
    assert sl_check["age_seconds"] == round(fresh.age.total_seconds())
    assert _request(server, "POST", "/healthz")[0] == 405


def test_readyz_is_503_when_a_check_fails_or_hangs(bolt_app: Any, semantic_layer_impl: Any) -> None:
    def state_db_down() -> dict[str, Any]:
        raise ConnectionRefusedError("postgresql://secret@db:5432 refused")

    release = threading.Event()

    def hangs() -> dict[str, Any]:
        release.wait(5)
        return {}

    from bot.http_guard import semantic_layer_check

    guard = HttpGuard(
        asgi_app(bolt_app),
        checks=(semantic_layer_check(semantic_layer_impl), Check("state_db", state_db_down), Check("slow", hangs)),
        check_timeout=0.3,
    )
    for srv in _serve(guard):
        status, body = _request(srv, "GET", "/readyz")
        release.set()
        ready = json.loads(body)
        assert status == 503 and ready["ready"] is False
        assert ready["checks"]["semantic_layer"]["ok"] is True
        assert ready["checks"]["state_db"] == {"ok": False, "error": "ConnectionRefusedError"}  # no DSN leaked
        assert ready["checks"]["slow"]["ok"] is False and "within" in ready["checks"]["slow"]["error"]
        assert _request(srv, "GET", "/healthz")[0] == 200  # alive, not ready


def test_content_length_over_the_limit_is_refused_before_the_body_is_sent(server: tuple[str, int]) -> None:
    with socket.create_connection(server, timeout=5) as sock:
        sock.sendall(
            f"POST {EVENTS_PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {256 * 1024 * 1024}\r\n\r\n".encode()
        )
        started = time.perf_counter()
        reply = sock.recv(4096)  # not a byte of the 256 MB was sent
        assert reply.startswith(b"HTTP/1.1 413"), reply[:100]
        assert time.perf_counter() - started < 2


def test_chunked_body_is_cut_off_at_the_limit(server: tuple[str, int]) -> None:
    """No Content-Length: the running count stops reading soon after the limit, long before the 64 MB are sent."""
    sent, reply = 0, b""
    with socket.create_connection(server, timeout=5) as sock:
        sock.sendall(f"POST {EVENTS_PATH} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".encode())
        chunk = b"%x\r\n" % (16 * 1024) + b"a" * (16 * 1024) + b"\r\n"
        sock.setblocking(False)
        while sent < 64 * 1024 * 1024:
            readable, writable, _ = select.select([sock], [sock], [], 2)
            if readable:
                try:
                    reply = sock.recv(4096)
                except ConnectionResetError:
                    break
                break
            if not writable:
                break
            try:
                sent += sock.send(chunk)
            except (BlockingIOError, BrokenPipeError, ConnectionResetError):
                break
        if not reply:
            sock.setblocking(True)
            reply = sock.recv(4096)
    assert reply.startswith(b"HTTP/1.1 413"), reply[:100]
    assert sent < 8 * 1024 * 1024, f"{sent} bytes were accepted before the refusal"


def _signed(body: bytes, ctype: str = "application/x-www-form-urlencoded") -> dict[str, str]:
    headers = sign(body.decode("utf-8", "replace"))
    headers["content-type"] = ctype
    return headers


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("timestamp not a number", 401),
        ("timestamp missing", 401),
        ("body not utf-8", 400),
        ("json malformed", 400),
        ("form payload malformed", 400),
        ("json not an object", 400),
        ("form payload not an object", 400),
        ("content-length not a number", 400),
        ("bad signature", 401),
    ],
)
def test_malformed_requests_get_4xx_never_500(
    server: tuple[str, int], fake_slack: Any, people: People, case: str, expected: int
) -> None:
    body = command_body(fake_slack, people.customer, "balance").encode()
    headers = _signed(body)
    if case == "timestamp not a number":
        headers["x-slack-request-timestamp"] = "12e4"
    elif case == "timestamp missing":
        del headers["x-slack-request-timestamp"]
    elif case == "body not utf-8":
        body = body + b"&text=\xff\xfe"
        headers = _signed(body)
    elif case == "json malformed":
        body = b'{"type": "event_callback", '
        headers = _signed(body, "application/json")
    elif case == "json not an object":
        body = b"[]"
        headers = _signed(body, "application/json")
    elif case == "form payload not an object":
        body = b"payload=null"
        headers = _signed(body)
    elif case == "form payload malformed":
        body = b"payload=%7B%22type%22%3A"
        headers = _signed(body)
    elif case == "content-length not a number":
        headers["content-length"] = "12abc"
    elif case == "bad signature":
        headers["x-slack-signature"] = "v0=" + "0" * 64
    if case == "content-length not a number":
        with socket.create_connection(server, timeout=5) as sock:
            head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            sock.sendall(f"POST {EVENTS_PATH} HTTP/1.1\r\nHost: x\r\n{head}\r\n".encode() + body)
            reply = sock.recv(4096)
        status = int(reply.split()[1])
        assert status == expected or status == 400, reply[:200]  # uvicorn itself may refuse it first
        return
    status, answer = _request(server, "POST", EVENTS_PATH, body, headers)
    assert status == expected, answer[:300]
    assert b"Traceback" not in answer
    time.sleep(0.2)
    assert not fake_slack.calls_to("response"), "a refused request must not be answered"


def test_a_signed_command_still_goes_through(
    server: tuple[str, int], fake_slack: Any, people: People
) -> None:
    body = command_body(fake_slack, people.customer, "balance").encode()
    status, _ = _request(server, "POST", EVENTS_PATH, body, _signed(body))
    assert status == 200
    post = fake_slack.wait_calls("response")[0].params
    assert post["response_type"] == "ephemeral" and "Current balance" in json.dumps(post["blocks"])


def test_without_the_guard_bolt_answers_malformed_requests_with_a_500(bolt_app: Any, fake_slack: Any,
                                                                       people: People) -> None:
    """Why the guard exists: the bare Bolt ASGI handler turns a non-numeric timestamp, or an unsigned JSON body that
    is not an object, into a 500."""
    for srv in _serve(asgi_app(bolt_app)):
        body = command_body(fake_slack, people.customer, "balance").encode()
        headers = {**_signed(body), "x-slack-request-timestamp": "soon"}
        assert _request(srv, "POST", EVENTS_PATH, body, headers)[0] == 500
        unsigned = {"content-type": "application/json", "x-slack-request-timestamp": "1"}
        assert _request(srv, "POST", EVENTS_PATH, b"[]", unsigned)[0] == 500
