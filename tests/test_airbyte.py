"""Airbyte sync client against a scripted Airbyte API (httpx.MockTransport): requests, statuses, errors, retries."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx

from finefin.errors import ConfigurationError, FinefinError
from ingestion.airbyte import (
    AirbyteAuthError,
    AirbyteConflictError,
    AirbyteError,
    AirbyteNotFoundError,
    AirbyteSettings,
    AirbyteSyncClient,
    AirbyteSyncError,
    AirbyteSyncTimeoutError,
    AirbyteUnavailableError,
    SyncStatus,
    parse_iso_duration,
)

URL = "https://api.example.test/v1"
CONNECTION = "9f1c6a4e-1111-4c2b-9d3e-000000000001"
TOKEN = "tok-secret-123"
JOB = 42


def job(status: str, job_id: int = JOB, **extra: Any) -> dict[str, Any]:
    return {
        "jobId": job_id,
        "connectionId": CONNECTION,
        "jobType": "sync",
        "startTime": "2026-11-24T13:00:00Z",
        "status": status,
        **extra,
    }


Reply = httpx.Response | Exception


class FakeAirbyte:
    """Answers queued replies per (method, path); the last reply of a queue repeats. Records every request."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self._routes: dict[tuple[str, str], list[Reply]] = {}

    def on(self, method: str, path: str, *replies: Reply) -> None:
        self._routes[(method, path)] = list(replies)

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        queue = self._routes.get((request.method, request.url.path))
        if not queue:
            return httpx.Response(599, json={"message": f"unscripted {request.method} {request.url.path}"})
        reply = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(reply, Exception):
            raise reply
        return reply

    def calls(self) -> list[tuple[str, str]]:
        return [(r.method, r.url.path) for r in self.requests]


class FakeTime:
    """A clock that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings must come from the test alone, not from a developer's shell."""
    import os

    for name in list(os.environ):
        if name.startswith("FINEFIN_AIRBYTE_"):
            monkeypatch.delenv(name)


@pytest.fixture()
def fake() -> FakeAirbyte:
    return FakeAirbyte()


@pytest.fixture()
def fake_time() -> FakeTime:
    return FakeTime()


def settings(**overrides: Any) -> AirbyteSettings:
    values: dict[str, Any] = {
        "url": URL,
        "connection_id": CONNECTION,
        "token": TOKEN,
        "poll_interval_seconds": 5,
        "max_poll_interval_seconds": 20,
        "timeout_seconds": 3600,
        "max_retries": 2,
        "retry_backoff_seconds": 1,
    }
    values.update(overrides)
    return AirbyteSettings(**{k: v for k, v in values.items() if v is not None})


@pytest.fixture()
def make_client(fake: FakeAirbyte, fake_time: FakeTime) -> Iterator[Any]:
    http = httpx.Client(transport=httpx.MockTransport(fake.handler))

    def make(**overrides: Any) -> AirbyteSyncClient:
        return AirbyteSyncClient(settings(**overrides), http_client=http, sleep=fake_time.sleep, clock=fake_time.clock)

    yield make
    http.close()


def ok(body: dict[str, Any]) -> httpx.Response:
    return httpx.Response(200, json=body)


# ------------------------------------------------------------------------------------------------------- happy path


def test_run_sync_pending_running_succeeded(make_client: Any, fake: FakeAirbyte, fake_time: FakeTime) -> None:
    fake.on("POST", "/v1/jobs", ok(job("pending")))
    fake.on(
        "GET",
        f"/v1/jobs/{JOB}",
        ok(job("pending")),
        ok(job("running")),
        ok(job("succeeded", rowsSynced=1234, bytesSynced=56789, duration="PT1M30.5S")),
    )

    result = make_client().run_sync()

    assert fake.calls() == [("POST", "/v1/jobs")] + [("GET", f"/v1/jobs/{JOB}")] * 3
    trigger = fake.requests[0]
    assert json.loads(trigger.content) == {"connectionId": CONNECTION, "jobType": "sync"}
    assert trigger.headers["content-type"] == "application/json"
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in fake.requests)
    assert fake_time.sleeps == [5, 10]  # exponential back-off between polls
    assert result.job_id == JOB
    assert result.status is SyncStatus.SUCCEEDED
    assert result.airbyte_status == "succeeded"
    assert (result.rows_synced, result.bytes_synced) == (1234, 56789)
    assert result.duration_seconds == pytest.approx(90.5)
    assert result.waited_seconds == pytest.approx(15)


def test_poll_interval_is_capped(make_client: Any, fake: FakeAirbyte, fake_time: FakeTime) -> None:
    fake.on("GET", f"/v1/jobs/{JOB}", *[ok(job("running"))] * 6, ok(job("succeeded")))

    result = make_client(poll_interval_seconds=2, max_poll_interval_seconds=10).wait(JOB)

    assert fake_time.sleeps == [2, 4, 8, 10, 10, 10]
    assert result.rows_synced is None and result.duration_seconds is None  # the API did not report them


def test_queued_and_incomplete_keep_polling(make_client: Any, fake: FakeAirbyte, fake_time: FakeTime) -> None:
    """`incomplete` means an attempt failed and Airbyte is retrying it: not the end of the job."""
    fake.on(
        "GET",
        f"/v1/jobs/{JOB}",
        ok(job("queued")),
        ok(job("incomplete")),
        ok(job("running")),
        ok(job("succeeded")),
    )

    assert make_client().wait(JOB).status is SyncStatus.SUCCEEDED
    assert len(fake.requests) == 4


# --------------------------------------------------------------------------------------------------- failed endings


@pytest.mark.parametrize("status", ["failed", "cancelled"])
def test_job_that_does_not_succeed_raises_with_job_id_and_status(
    make_client: Any, fake: FakeAirbyte, status: str
) -> None:
    fake.on("POST", "/v1/jobs", ok(job("pending", job_id=777)))
    fake.on("GET", "/v1/jobs/777", ok(job("running", job_id=777)), ok(job(status, job_id=777, rowsSynced=10)))

    with pytest.raises(AirbyteSyncError) as caught:
        make_client().run_sync()

    assert isinstance(caught.value, FinefinError)
    assert not isinstance(caught.value, AirbyteSyncTimeoutError)
    message = str(caught.value)
    assert "777" in message and status in message and CONNECTION in message
    assert caught.value.job_id == 777
    assert caught.value.status is SyncStatus(status)
    assert caught.value.result.rows_synced == 10
    assert ("DELETE", "/v1/jobs/777") not in fake.calls()  # nothing to cancel


def test_timeout_cancels_the_job(make_client: Any, fake: FakeAirbyte, fake_time: FakeTime) -> None:
    fake.on("GET", f"/v1/jobs/{JOB}", ok(job("running")))
    fake.on("DELETE", f"/v1/jobs/{JOB}", ok(job("cancelled")))

    with pytest.raises(AirbyteSyncTimeoutError) as caught:
        make_client(poll_interval_seconds=5, max_poll_interval_seconds=10, timeout_seconds=30).wait(JOB)

    assert fake_time.sleeps == [5, 10, 10, 5]  # the last wait stops at the deadline, then one final poll
    assert fake.calls()[-1] == ("DELETE", f"/v1/jobs/{JOB}")
    assert fake.calls().count(("GET", f"/v1/jobs/{JOB}")) == 5
    assert fake.requests[-1].headers["authorization"] == f"Bearer {TOKEN}"
    err = caught.value
    assert err.cancel_sent is True
    assert err.job_id == JOB and err.status is SyncStatus.RUNNING
    assert str(JOB) in str(err) and "FINEFIN_AIRBYTE_TIMEOUT_SECONDS" in str(err) and "cancel request" in str(err)


def test_timeout_still_raises_when_cancel_fails(make_client: Any, fake: FakeAirbyte) -> None:
    fake.on("GET", f"/v1/jobs/{JOB}", ok(job("pending")))
    fake.on("DELETE", f"/v1/jobs/{JOB}", httpx.Response(500, json={"message": "boom"}))

    with pytest.raises(AirbyteSyncTimeoutError) as caught:
        make_client(timeout_seconds=6, max_retries=1).wait(JOB)

    assert caught.value.cancel_sent is False
    assert fake.calls().count(("DELETE", f"/v1/jobs/{JOB}")) == 2  # the cancel itself was retried once
    assert "cancelling it failed" in str(caught.value)


# ----------------------------------------------------------------------------------------------------- HTTP errors


@pytest.mark.parametrize("code", [401, 403])
def test_auth_errors_are_clear_and_not_retried(
    make_client: Any, fake: FakeAirbyte, fake_time: FakeTime, code: int
) -> None:
    fake.on("POST", "/v1/jobs", httpx.Response(code, json={"message": "Unauthorized"}))

    with pytest.raises(AirbyteAuthError) as caught:
        make_client().trigger_sync()

    assert len(fake.requests) == 1 and fake_time.sleeps == []
    assert f"HTTP {code}" in str(caught.value) and "FINEFIN_AIRBYTE_TOKEN" in str(caught.value)
    assert TOKEN not in str(caught.value)


def test_5xx_then_success_is_retried_with_backoff(make_client: Any, fake: FakeAirbyte, fake_time: FakeTime) -> None:
    fake.on("POST", "/v1/jobs", httpx.Response(503), httpx.Response(502), ok(job("pending")))

    assert make_client(max_retries=3).trigger_sync() == JOB
    assert fake.calls() == [("POST", "/v1/jobs")] * 3
    assert fake_time.sleeps == [1, 2]
    assert all(json.loads(r.content)["connectionId"] == CONNECTION for r in fake.requests)


def test_5xx_forever_gives_up_after_bounded_retries(make_client: Any, fake: FakeAirbyte, fake_time: FakeTime) -> None:
    fake.on("GET", f"/v1/jobs/{JOB}", httpx.Response(500, json={"message": "internal"}))

    with pytest.raises(AirbyteUnavailableError) as caught:
        make_client(max_retries=2).wait(JOB)

    assert len(fake.requests) == 3
    assert fake_time.sleeps == [1, 2]
    message = str(caught.value)
    assert "3 times" in message and "HTTP 500" in message and f"job {JOB}" in message and URL in message


def test_connection_errors_are_retried(make_client: Any, fake: FakeAirbyte, fake_time: FakeTime) -> None:
    fake.on(
        "GET",
        f"/v1/jobs/{JOB}",
        httpx.ConnectError("connection refused"),
        httpx.ReadTimeout("read timed out"),
        ok(job("succeeded")),
    )

    assert make_client(max_retries=2).wait(JOB).status is SyncStatus.SUCCEEDED
    assert len(fake.requests) == 3 and fake_time.sleeps == [1, 2]


def test_connection_errors_forever_give_up(make_client: Any, fake: FakeAirbyte) -> None:
    fake.on("POST", "/v1/jobs", httpx.ConnectError("connection refused"))

    with pytest.raises(AirbyteUnavailableError, match="connection refused"):
        make_client(max_retries=1).trigger_sync()
    assert len(fake.requests) == 2


def test_429_honours_retry_after(make_client: Any, fake: FakeAirbyte, fake_time: FakeTime) -> None:
    fake.on("POST", "/v1/jobs", httpx.Response(429, headers={"Retry-After": "7"}), ok(job("pending")))

    assert make_client().trigger_sync() == JOB
    assert fake_time.sleeps == [7]


def test_unknown_connection_names_the_connection(make_client: Any, fake: FakeAirbyte, fake_time: FakeTime) -> None:
    fake.on("POST", "/v1/jobs", httpx.Response(404, json={"message": "Connection not found"}))

    with pytest.raises(AirbyteNotFoundError) as caught:
        make_client().trigger_sync()

    assert CONNECTION in str(caught.value) and "FINEFIN_AIRBYTE_CONNECTION_ID" in str(caught.value)
    assert len(fake.requests) == 1 and fake_time.sleeps == []


def test_retried_trigger_that_started_a_job_follows_it(make_client: Any, fake: FakeAirbyte) -> None:
    """The first POST reached Airbyte but its answer was lost; the retry gets 409: follow the running job."""
    fake.on(
        "POST",
        "/v1/jobs",
        httpx.ReadTimeout("answer lost"),
        httpx.Response(409, json={"message": f"A sync is already running for: {CONNECTION}"}),
    )
    fake.on(
        "GET",
        "/v1/jobs",
        ok({"data": [job("running", job_id=43), job("succeeded", job_id=41)], "next": None}),
    )

    assert make_client().trigger_sync() == 43
    listing = fake.requests[-1]
    assert (listing.method, listing.url.path) == ("GET", "/v1/jobs")
    assert listing.url.params["connectionId"] == CONNECTION
    assert listing.url.params["jobType"] == "sync"
    assert listing.url.params["orderBy"] == "createdAt|DESC"


def test_conflict_on_first_trigger_is_an_error(make_client: Any, fake: FakeAirbyte) -> None:
    fake.on("POST", "/v1/jobs", httpx.Response(409, json={"message": "A sync is already running"}))

    with pytest.raises(AirbyteConflictError) as caught:
        make_client().trigger_sync()

    assert "already running" in str(caught.value) and CONNECTION in str(caught.value)
    assert fake.calls() == [("POST", "/v1/jobs")]  # someone else's sync: not adopted


@pytest.mark.parametrize(("code", "hint"), [(400, "HTTP 400"), (422, "HTTP 422")])
def test_other_client_errors_are_not_retried(make_client: Any, fake: FakeAirbyte, code: int, hint: str) -> None:
    fake.on("POST", "/v1/jobs", httpx.Response(code, json={"message": "nope: detail from server"}))

    with pytest.raises(AirbyteError) as caught:
        make_client().trigger_sync()

    assert hint in str(caught.value) and "detail from server" in str(caught.value)
    assert not isinstance(caught.value, AirbyteUnavailableError | AirbyteAuthError | AirbyteNotFoundError)
    assert len(fake.requests) == 1


def test_malformed_job_answer_is_a_clear_error(make_client: Any, fake: FakeAirbyte) -> None:
    fake.on("GET", f"/v1/jobs/{JOB}", ok({"jobId": JOB, "status": "exploded"}))

    with pytest.raises(AirbyteError, match=f"polling job {JOB}"):
        make_client().wait(JOB)
    assert len(fake.requests) == 1


def test_default_http_client(fake_time: FakeTime) -> None:
    """Without an injected client, the client builds its own httpx.Client (intercepted here by respx)."""
    with respx.mock(assert_all_called=True) as router:
        route = router.post(f"{URL}/jobs").mock(return_value=ok(job("pending")))
        with AirbyteSyncClient(settings(), sleep=fake_time.sleep, clock=fake_time.clock) as client:
            assert client.trigger_sync() == JOB
    assert route.call_count == 1
    assert route.calls.last.request.headers["authorization"] == f"Bearer {TOKEN}"


# ------------------------------------------------------------------------------------------- client credentials


SELF_HOSTED = "http://airbyte.internal:8000/api/public/v1"


def token_reply(token: str, expires_in: int = 180) -> httpx.Response:
    return ok({"access_token": token, "token_type": "Bearer", "expires_in": expires_in})


def test_client_credentials_exchange_and_reuse(make_client: Any, fake: FakeAirbyte, fake_time: FakeTime) -> None:
    fake.on("POST", "/api/public/v1/applications/token", token_reply("t1"), token_reply("t2"))
    fake.on("POST", "/api/public/v1/jobs", ok(job("pending")))
    fake.on("GET", f"/api/public/v1/jobs/{JOB}", ok(job("running")), ok(job("succeeded")))

    client = make_client(url=SELF_HOSTED + "/", token=None, client_id="cid", client_secret="csecret")
    client.run_sync()

    assert fake.calls() == [
        ("POST", "/api/public/v1/applications/token"),
        ("POST", "/api/public/v1/jobs"),
        ("GET", f"/api/public/v1/jobs/{JOB}"),
        ("GET", f"/api/public/v1/jobs/{JOB}"),
    ]
    token_request = fake.requests[0]
    assert str(token_request.url) == f"{SELF_HOSTED}/applications/token"
    assert token_request.headers["content-type"] == "application/json"
    assert json.loads(token_request.content) == {
        "client_id": "cid",
        "client_secret": "csecret",
        "grant-type": "client_credentials",
    }
    assert "authorization" not in token_request.headers
    assert [r.headers["authorization"] for r in fake.requests[1:]] == ["Bearer t1"] * 3

    # Later than the token's lifetime: a new token is fetched before the next call.
    fake_time.now += 200
    client.get_status(JOB)
    assert fake.calls()[-2:] == [("POST", "/api/public/v1/applications/token"), ("GET", f"/api/public/v1/jobs/{JOB}")]
    assert fake.requests[-1].headers["authorization"] == "Bearer t2"


def test_client_credentials_401_refreshes_token_once(make_client: Any, fake: FakeAirbyte) -> None:
    fake.on("POST", "/v1/applications/token", token_reply("old"), token_reply("new"))
    fake.on("GET", f"/v1/jobs/{JOB}", httpx.Response(401), ok(job("succeeded")))

    result = make_client(token=None, client_id="cid", client_secret="csecret").wait(JOB)

    assert result.status is SyncStatus.SUCCEEDED
    assert [r.headers.get("authorization") for r in fake.requests if r.url.path.endswith(f"/{JOB}")] == [
        "Bearer old",
        "Bearer new",
    ]


def test_client_credentials_persistent_401_is_an_auth_error(make_client: Any, fake: FakeAirbyte) -> None:
    fake.on("POST", "/v1/applications/token", token_reply("t"))
    fake.on("POST", "/v1/jobs", httpx.Response(401))

    with pytest.raises(AirbyteAuthError, match="FINEFIN_AIRBYTE_CLIENT_ID"):
        make_client(token=None, client_id="cid", client_secret="csecret").trigger_sync()
    assert fake.calls().count(("POST", "/v1/jobs")) == 2  # one retry with a fresh token, then stop


def test_rejected_client_credentials(make_client: Any, fake: FakeAirbyte, fake_time: FakeTime) -> None:
    fake.on("POST", "/v1/applications/token", httpx.Response(401, json={"message": "Invalid client id or token"}))

    with pytest.raises(AirbyteAuthError) as caught:
        make_client(token=None, client_id="cid", client_secret="csecret").trigger_sync()

    assert "cid" in str(caught.value) and "Invalid client id" in str(caught.value)
    assert "csecret" not in str(caught.value)
    assert fake.calls() == [("POST", "/v1/applications/token")] and fake_time.sleeps == []


def test_token_endpoint_5xx_is_retried(make_client: Any, fake: FakeAirbyte, fake_time: FakeTime) -> None:
    fake.on("POST", "/v1/applications/token", httpx.Response(503), token_reply("t"))
    fake.on("POST", "/v1/jobs", ok(job("pending")))

    assert make_client(token=None, client_id="cid", client_secret="csecret").trigger_sync() == JOB
    assert fake_time.sleeps == [1]
    assert fake.requests[-1].headers["authorization"] == "Bearer t"


# ------------------------------------------------------------------------------------------------------- settings


def test_settings_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINEFIN_AIRBYTE_URL", SELF_HOSTED + "/")
    monkeypatch.setenv("FINEFIN_AIRBYTE_CONNECTION_ID", CONNECTION)
    monkeypatch.setenv("FINEFIN_AIRBYTE_CLIENT_ID", "cid")
    monkeypatch.setenv("FINEFIN_AIRBYTE_CLIENT_SECRET", "csecret")
    monkeypatch.setenv("FINEFIN_AIRBYTE_TOKEN", "")  # blank counts as unset
    monkeypatch.setenv("FINEFIN_AIRBYTE_POLL_INTERVAL_SECONDS", "2.5")
    monkeypatch.setenv("FINEFIN_AIRBYTE_TIMEOUT_SECONDS", "600")

    s = AirbyteSettings.from_env()

    assert s.url == SELF_HOSTED
    assert s.token_url == f"{SELF_HOSTED}/applications/token"
    assert s.uses_client_credentials and s.token is None
    assert s.client_secret is not None and s.client_secret.get_secret_value() == "csecret"
    assert "csecret" not in repr(s)
    assert (s.poll_interval_seconds, s.max_poll_interval_seconds, s.timeout_seconds) == (2.5, 60.0, 600.0)


BASE_ENV = {"URL": URL, "CONNECTION_ID": CONNECTION, "TOKEN": TOKEN}


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"URL": None}, "FINEFIN_AIRBYTE_URL"),
        ({"URL": "api.airbyte.com/v1"}, "FINEFIN_AIRBYTE_URL"),
        ({"CONNECTION_ID": None}, "FINEFIN_AIRBYTE_CONNECTION_ID"),
        ({"CONNECTION_ID": "  "}, "FINEFIN_AIRBYTE_CONNECTION_ID"),
        ({"TOKEN": None}, "FINEFIN_AIRBYTE_TOKEN"),
        ({"CLIENT_ID": "cid", "CLIENT_SECRET": "s"}, "FINEFIN_AIRBYTE_CLIENT_ID"),  # token and client both set
        ({"TOKEN": None, "CLIENT_ID": "cid"}, "FINEFIN_AIRBYTE_CLIENT_SECRET"),
        ({"TOKEN": None, "CLIENT_SECRET": "s"}, "FINEFIN_AIRBYTE_CLIENT_ID"),
        ({"POLL_INTERVAL_SECONDS": "soon"}, "FINEFIN_AIRBYTE_POLL_INTERVAL_SECONDS"),
        ({"POLL_INTERVAL_SECONDS": "0"}, "FINEFIN_AIRBYTE_POLL_INTERVAL_SECONDS"),
        ({"POLL_INTERVAL_SECONDS": "30", "MAX_POLL_INTERVAL_SECONDS": "10"}, "FINEFIN_AIRBYTE_MAX_POLL_INTERVAL"),
        ({"TIMEOUT_SECONDS": "-1"}, "FINEFIN_AIRBYTE_TIMEOUT_SECONDS"),
        ({"MAX_RETRIES": "-1"}, "FINEFIN_AIRBYTE_MAX_RETRIES"),
    ],
)
def test_settings_errors_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, changes: dict[str, str | None], named: str
) -> None:
    env = {**BASE_ENV, **changes}
    for key, value in env.items():
        if value is not None:
            monkeypatch.setenv(f"FINEFIN_AIRBYTE_{key}", value)

    with pytest.raises(ConfigurationError, match=named):
        AirbyteSettings.from_env()


def test_settings_error_does_not_leak_the_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {**BASE_ENV, "CLIENT_ID": "cid", "CLIENT_SECRET": "very-secret"}.items():
        monkeypatch.setenv(f"FINEFIN_AIRBYTE_{key}", value)

    with pytest.raises(ConfigurationError) as caught:
        AirbyteSettings.from_env()
    assert "very-secret" not in str(caught.value) and TOKEN not in str(caught.value)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("PT1M30.5S", 90.5), ("PT2H", 7200.0), ("P1DT1S", 86401.0), ("PT0S", 0.0), (None, None), ("", None), ("P", None)],
)
def test_parse_iso_duration(value: str | None, seconds: float | None) -> None:
    assert parse_iso_duration(value) == seconds
