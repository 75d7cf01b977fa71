"""A fake Slack Web API on 127.0.0.1, over real HTTP: slack_sdk and Bolt talk to it exactly as to slack.com.

Records every call (API method, decoded params or JSON, headers, raw body); answers auth.test, users.info,
usergroups.users.list, chat.postMessage, chat.postEphemeral, conversations.open, conversations.members (set
`channels`), views.publish, the three-step
file upload (files.getUploadURLExternal → POST to the upload URL → files.completeUploadExternal) and response_url
posts.
`fail_next(n)` makes the next n API calls answer 429 with Retry-After; `error_for(method, error)` makes a
method answer `{"ok": false, "error": …}`.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass
class Call:
    method: str  # API method ("chat.postMessage"), or "upload" / "response" for the non-API URLs
    path: str
    params: dict[str, Any]
    headers: dict[str, str]
    body: bytes
    status: int = 200
    at: float = field(default_factory=time.monotonic)


class FakeSlack:
    def __init__(self) -> None:
        self.users: dict[str, dict[str, Any]] = {}
        self.groups: dict[str, list[str]] = {}
        self.channels: dict[str, list[str]] = {}  # conversations.members (paged by `limit`); unknown: channel_not_found
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        self._rate_limited = 0
        self._retry_after = 0
        self._errors: dict[str, str] = {}
        self._ids = itertools.count(1)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-slack", daemon=True
        )

    # --- lifecycle -----------------------------------------------------------------------------------------
    def start(self) -> FakeSlack:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def response_url(self, key: str = "r1") -> str:
        return f"{self.url}/response/{key}"

    # --- configuration -------------------------------------------------------------------------------------
    def add_user(self, user_id: str, email: str | None, name: str = "", **extra: Any) -> None:
        profile = {"email": email, "real_name": name or user_id, "display_name": name or user_id}
        user = {"id": user_id, "name": name or user_id, "profile": profile, "is_email_confirmed": True, **extra}
        self.users[user_id] = {k: v for k, v in user.items() if v is not None}  # extra key=None: field absent

    def fail_next(self, n: int, retry_after: int = 0) -> None:
        """The next n API calls (not uploads or response_url posts) answer HTTP 429."""
        with self._lock:
            self._rate_limited, self._retry_after = n, retry_after

    def error_for(self, method: str, error: str = "channel_not_found") -> None:
        self._errors[method] = error

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self._rate_limited = 0
            self._errors.clear()

    # --- inspection ----------------------------------------------------------------------------------------
    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method and c.status == 200]

    def wait_for(self, predicate: Callable[[FakeSlack], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self):
                return
            time.sleep(0.01)
        raise AssertionError(f"timed out; calls so far: {[c.method for c in self.calls]}")

    def wait_calls(self, method: str, n: int = 1, timeout: float = 10.0) -> list[Call]:
        self.wait_for(lambda s: len(s.calls_to(method)) >= n, timeout)
        return self.calls_to(method)

    def uploaded(self) -> dict[str, bytes]:
        """filename → uploaded bytes, matched through getUploadURLExternal."""
        names = {c.params["_file_id"]: c.params["filename"] for c in self.calls_to("files.getUploadURLExternal")}
        return {names[c.path.rsplit("/", 1)[1]]: c.body for c in self.calls_to("upload")}

    # --- HTTP ----------------------------------------------------------------------------------------------
    def _answer(self, call: Call) -> tuple[int, dict[str, str], Any]:
        if call.method == "response":
            return 200, {}, "ok"
        if call.method == "upload":
            return 200, {}, f"OK - {len(call.body)}"
        with self._lock:
            if self._rate_limited > 0:
                self._rate_limited -= 1
                return 429, {"Retry-After": str(self._retry_after)}, {"ok": False, "error": "ratelimited"}
        if call.method in self._errors:
            return 200, {}, {"ok": False, "error": self._errors[call.method]}
        p = call.params
        match call.method:
            case "auth.test":
                return (
                    200,
                    {},
                    {
                        "ok": True,
                        "url": "https://finefin.slack.com/",
                        "team": "FineFinance",
                        "user": "finefin",
                        "team_id": "T0001",
                        "user_id": "UBOT",
                        "bot_id": "B0001",
                    },
                )
            case "users.info":
                user = self.users.get(p.get("user", ""))
                return 200, {}, ({"ok": True, "user": user} if user else {"ok": False, "error": "user_not_found"})
            case "usergroups.users.list":
                return 200, {}, {"ok": True, "users": self.groups.get(p.get("usergroup", ""), [])}
            case "conversations.members":
                if p.get("channel") not in self.channels:
                    return 200, {}, {"ok": False, "error": "channel_not_found"}
                members = self.channels[p["channel"]]
                start, size = int(p.get("cursor") or 0), int(p.get("limit") or 100)
                rest = str(start + size) if start + size < len(members) else ""
                return 200, {}, {"ok": True, "members": members[start:start + size],
                                 "response_metadata": {"next_cursor": rest}}
            case "conversations.open":
                return 200, {}, {"ok": True, "channel": {"id": "D" + str(p.get("users", "")).split(",")[0]}}
            case "views.publish":
                return 200, {}, {"ok": True, "view": {"id": "V0001"}}
            case "chat.postMessage" | "chat.postEphemeral":
                return (
                    200,
                    {},
                    {
                        "ok": True,
                        "channel": p.get("channel"),
                        "ts": f"{time.time():.6f}",
                        "message_ts": f"{time.time():.6f}",
                    },
                )
            case "files.getUploadURLExternal":
                file_id = f"F{next(self._ids):06d}"
                p["_file_id"] = file_id
                return 200, {}, {"ok": True, "upload_url": f"{self.url}/upload/{file_id}", "file_id": file_id}
            case "files.completeUploadExternal":
                files = json.loads(p["files"]) if isinstance(p.get("files"), str) else p.get("files", [])
                return 200, {}, {"ok": True, "files": [{"id": f["id"], "title": f.get("title")} for f in files]}
        return 200, {}, {"ok": False, "error": "unknown_method"}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                params: dict[str, Any] = dict(parse_qsl(parts.query))
                ctype = self.headers.get("Content-Type", "")
                if parts.path.startswith("/api/"):
                    method = parts.path[len("/api/") :]
                    if "json" in ctype and body:
                        params.update(json.loads(body))
                    elif body:
                        params.update(parse_qsl(body.decode()))
                elif parts.path.startswith("/upload/"):
                    method = "upload"
                elif parts.path.startswith("/response/"):
                    method = "response"
                    params.update(json.loads(body) if body else {})
                else:
                    method = "unknown"
                call = Call(method, parts.path, params, {k.lower(): v for k, v in self.headers.items()}, body)
                status, headers, payload = fake._answer(call)
                call.status = status
                with fake._lock:
                    fake.calls.append(call)
                data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain" if isinstance(payload, str) else "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            do_GET = _handle
            do_POST = _handle

        return Handler
