"""Trigger an Airbyte sync (PostgreSQL -> Snowflake in production) and wait for it, through the `airbyte-api` SDK.

Usage (an Airflow task or the CLI)::

    with AirbyteSyncClient(AirbyteSettings.from_env()) as client:
        result = client.run_sync()  # raises AirbyteSyncError if the job fails, is cancelled or times out

Choices worth knowing:

* Retries are our own loop, not the SDK's `RetryConfig`: the SDK sleeps with `time.sleep`, adds up to 1 s of random
  jitter and bounds retries by elapsed time only, so it can neither be tested without waiting nor bounded by count.
* Client credentials are exchanged by us, not by the SDK's `SchemeClientCredentials` hook: in airbyte-api 1.0.1 that
  hook resolves its default token URL with `urljoin`, which drops the `/v1` (or `/api/public/v1`) path of the server
  URL, and posts a form body where Airbyte expects JSON (airbytehq/airbyte-api-python-sdk#106, #121, #126).
* `incomplete` is treated as still in progress, not as a failure: Airbyte reports it while a failed attempt is being
  retried, and the job ends as `failed` once its attempts run out (the Airflow Airbyte provider does the same).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import urlparse

import httpx
from airbyte_api import AirbyteAPI, api, errors, models
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from finefin.errors import ConfigurationError, FinefinError

log = logging.getLogger(__name__)

ENV_PREFIX = "FINEFIN_AIRBYTE_"
_MAX_RETRY_DELAY_SECONDS = 60.0
_DEFAULT_TOKEN_LIFETIME_SECONDS = 180.0  # Airbyte's documented minimum; used when the token answer has no expires_in
_BODY_EXCERPT_CHARS = 500

T = TypeVar("T")


def _env(field: str) -> str:
    return f"{ENV_PREFIX}{field.upper()}"


# --------------------------------------------------------------------------------------------------------- settings


class AirbyteSettings(BaseSettings):
    """Airbyte connection settings; every field reads `FINEFIN_AIRBYTE_<NAME>`."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    url: str | None = Field(
        default=None,
        description="API server URL: https://api.airbyte.com/v1 (Cloud) or http://host:8000/api/public/v1.",
    )
    connection_id: str | None = Field(default=None, description="Airbyte connection to sync (UUID).")
    token: SecretStr | None = Field(default=None, description="Bearer token; or set CLIENT_ID and CLIENT_SECRET.")
    client_id: str | None = Field(default=None, description="Application client id (exchanged for a token).")
    client_secret: SecretStr | None = Field(default=None, description="Application client secret.")
    poll_interval_seconds: float = Field(default=5.0, description="First wait between status polls.")
    max_poll_interval_seconds: float = Field(default=60.0, description="Polls back off exponentially up to this.")
    timeout_seconds: float = Field(default=3 * 3600.0, description="Cancel the job and fail after this long.")
    request_timeout_seconds: float = Field(default=30.0, description="Timeout of one HTTP request.")
    max_retries: int = Field(default=4, description="Retries of one API call on 429/5xx/connection errors.")
    retry_backoff_seconds: float = Field(default=1.0, description="First retry delay; doubles on each retry.")

    @field_validator("url", "connection_id", "token", "client_id", "client_secret", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.url is None:
            raise ConfigurationError(f"{_env('url')} is not set: the Airbyte API server URL, e.g. {_example_url()}")
        parsed = urlparse(self.url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ConfigurationError(f"{_env('url')}={self.url!r} is not an http(s) URL, e.g. {_example_url()}")
        self.url = self.url.rstrip("/")
        if self.connection_id is None:
            raise ConfigurationError(f"{_env('connection_id')} is not set: the id of the Airbyte connection to sync")
        has_client = self.client_id is not None or self.client_secret is not None
        if self.token is not None and has_client:
            raise ConfigurationError(
                f"{_env('token')} and {_env('client_id')}/{_env('client_secret')} are both set: choose one way to "
                "authenticate"
            )
        if self.token is None and not has_client:
            raise ConfigurationError(
                f"no Airbyte credentials: set {_env('token')}, or {_env('client_id')} and {_env('client_secret')}"
            )
        if self.client_id is not None and self.client_secret is None:
            raise ConfigurationError(f"{_env('client_secret')} is not set but {_env('client_id')} is")
        if self.client_secret is not None and self.client_id is None:
            raise ConfigurationError(f"{_env('client_id')} is not set but {_env('client_secret')} is")
        positive = ("poll_interval_seconds", "max_poll_interval_seconds", "timeout_seconds", "request_timeout_seconds")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ConfigurationError(f"{_env(name)} must be positive, got {getattr(self, name)}")
        if self.max_poll_interval_seconds < self.poll_interval_seconds:
            raise ConfigurationError(
                f"{_env('max_poll_interval_seconds')} ({self.max_poll_interval_seconds}) is smaller than "
                f"{_env('poll_interval_seconds')} ({self.poll_interval_seconds})"
            )
        if self.max_retries < 0:
            raise ConfigurationError(f"{_env('max_retries')} must be 0 or more, got {self.max_retries}")
        if self.retry_backoff_seconds < 0:
            raise ConfigurationError(f"{_env('retry_backoff_seconds')} must be 0 or more")
        return self

    @classmethod
    def from_env(cls, **overrides: Any) -> AirbyteSettings:
        """Read the environment; malformed values become a ConfigurationError naming the variable."""
        try:
            return cls(**overrides)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = str(first["loc"][0]) if first["loc"] else "?"
            raise ConfigurationError(f"{_env(field)}: {first['msg']}") from exc

    @property
    def uses_client_credentials(self) -> bool:
        return self.token is None

    @property
    def token_url(self) -> str:
        """The token endpoint sits under the API root for both Cloud and self-hosted servers."""
        return f"{self.url}/applications/token"


def _example_url() -> str:
    return "https://api.airbyte.com/v1 or http://localhost:8000/api/public/v1"


# ----------------------------------------------------------------------------------------------------------- errors


class AirbyteError(FinefinError):
    """Any failure talking to Airbyte."""


class AirbyteAuthError(AirbyteError):
    """Airbyte refused the credentials (401/403, or the token exchange failed). Not retried."""


class AirbyteNotFoundError(AirbyteError):
    """The connection or job does not exist on this server (404)."""


class AirbyteConflictError(AirbyteError):
    """Airbyte answered 409 (a sync of the connection is already running). `after_retry`: an earlier attempt of the
    same call failed in a way that may have reached the server."""

    def __init__(self, message: str, after_retry: bool) -> None:
        super().__init__(message)
        self.after_retry = after_retry


class AirbyteUnavailableError(AirbyteError):
    """The API kept answering 429/5xx or could not be reached, after the bounded retries."""


class AirbyteSyncError(AirbyteError):
    """The sync job ended without success; `result` holds its last known state."""

    def __init__(self, message: str, result: SyncResult) -> None:
        super().__init__(message)
        self.result = result

    @property
    def job_id(self) -> int:
        return self.result.job_id

    @property
    def status(self) -> SyncStatus:
        return self.result.status


class AirbyteSyncTimeoutError(AirbyteSyncError):
    """The job did not finish within the timeout; a cancel request was sent (`cancel_sent`)."""

    def __init__(self, message: str, result: SyncResult, cancel_sent: bool) -> None:
        super().__init__(message, result)
        self.cancel_sent = cancel_sent


class _TransientError(Exception):
    """Internal: a retryable failure outside the SDK (the token endpoint answered 429/5xx)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


# ----------------------------------------------------------------------------------------------------------- result


class SyncStatus(StrEnum):
    """Airbyte's seven job statuses folded into what a caller acts on."""

    PENDING = "pending"  # pending, queued
    RUNNING = "running"  # running, incomplete (an attempt failed and Airbyte is retrying)
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in (SyncStatus.SUCCEEDED, SyncStatus.FAILED, SyncStatus.CANCELLED)


_STATUS_MAP: dict[models.JobStatusEnum, SyncStatus] = {
    models.JobStatusEnum.PENDING: SyncStatus.PENDING,
    models.JobStatusEnum.QUEUED: SyncStatus.PENDING,
    models.JobStatusEnum.RUNNING: SyncStatus.RUNNING,
    models.JobStatusEnum.INCOMPLETE: SyncStatus.RUNNING,
    models.JobStatusEnum.SUCCEEDED: SyncStatus.SUCCEEDED,
    models.JobStatusEnum.FAILED: SyncStatus.FAILED,
    models.JobStatusEnum.CANCELLED: SyncStatus.CANCELLED,
}


@dataclass(frozen=True)
class SyncResult:
    """Final (or last seen) state of a sync job."""

    job_id: int
    status: SyncStatus
    airbyte_status: str
    """The raw Airbyte status (e.g. `queued`, `incomplete`)."""
    rows_synced: int | None
    bytes_synced: int | None
    duration_seconds: float | None
    """Airbyte's own duration of the job when it reports one."""
    waited_seconds: float
    """How long this client polled."""


_ISO_DURATION = re.compile(
    r"^P(?:(?P<days>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)


def parse_iso_duration(value: str | None) -> float | None:
    """Seconds in an ISO 8601 duration such as `PT1H2M3.5S` (the form Airbyte uses); None if absent or unparsable."""
    if not value:
        return None
    match = _ISO_DURATION.match(value.strip())
    if match is None or value.strip() in ("P", "PT"):
        return None
    parts = {k: float(v) for k, v in match.groupdict().items() if v is not None}
    return (
        parts.get("days", 0.0) * 86400
        + parts.get("hours", 0.0) * 3600
        + parts.get("minutes", 0.0) * 60
        + parts.get("seconds", 0.0)
    )


def _result(job: models.JobResponse, waited_seconds: float) -> SyncResult:
    return SyncResult(
        job_id=job.job_id,
        status=_STATUS_MAP[job.status],
        airbyte_status=job.status.value,
        rows_synced=job.rows_synced,
        bytes_synced=job.bytes_synced,
        duration_seconds=parse_iso_duration(job.duration),
        waited_seconds=waited_seconds,
    )


# ------------------------------------------------------------------------------------------------------------ token


class _ClientCredentialsToken:
    """Access token from `POST <url>/applications/token`, cached until shortly before it expires."""

    def __init__(
        self, http: httpx.Client, token_url: str, client_id: str, client_secret: str, clock: Callable[[], float]
    ) -> None:
        self._http = http
        self._token_url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._clock = clock
        self._token: str | None = None
        self._expires_at = 0.0

    def invalidate(self) -> None:
        self._token = None

    def get(self) -> str:
        if self._token is None or self._clock() >= self._expires_at:
            self._token, lifetime = self._fetch()
            # Refresh a little early so a token does not expire between being read and the request arriving.
            self._expires_at = self._clock() + max(lifetime - min(30.0, lifetime / 4), 0.0)
        return self._token

    def _fetch(self) -> tuple[str, float]:
        log.debug("requesting an Airbyte access token from %s", self._token_url)
        response = self._http.post(
            self._token_url,
            json={
                "client_id": self._client_id,
                "client_secret": self._client_secret,
                "grant-type": "client_credentials",
            },
            headers={"Accept": "application/json"},
        )
        status = response.status_code
        if status == 429 or status >= 500:
            raise _TransientError(f"token endpoint {self._token_url} answered {status}", _retry_after(response))
        if status in (400, 401, 403):
            raise AirbyteAuthError(
                f"Airbyte rejected the client credentials ({_env('client_id')}={self._client_id}) at "
                f"{self._token_url}: HTTP {status} {_excerpt(response.text)}"
            )
        if status == 404:
            raise ConfigurationError(
                f"no token endpoint at {self._token_url} (HTTP 404): check {_env('url')} "
                f"(expected the API root, e.g. {_example_url()})"
            )
        if not 200 <= status < 300:
            raise AirbyteError(f"token endpoint {self._token_url} answered HTTP {status}: {_excerpt(response.text)}")
        try:
            body = response.json()
            token = body["access_token"]
        except (ValueError, KeyError, TypeError) as exc:
            raise AirbyteError(f"token endpoint {self._token_url} answered without an access_token") from exc
        if not isinstance(token, str) or not token:
            raise AirbyteError(f"token endpoint {self._token_url} answered an empty access_token")
        expires_in = body.get("expires_in")
        lifetime = float(expires_in) if isinstance(expires_in, int | float) else _DEFAULT_TOKEN_LIFETIME_SECONDS
        return token, lifetime


# ----------------------------------------------------------------------------------------------------------- client


def _excerpt(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _BODY_EXCERPT_CHARS else text[:_BODY_EXCERPT_CHARS] + "…"


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return max(float(value), 0.0) if value is not None else None
    except ValueError:  # the HTTP-date form: fall back to our own back-off
        return None


class AirbyteSyncClient:
    """Triggers and follows sync jobs of one Airbyte connection.

    `http_client` is used for every request (pass one with a proxy, or with `httpx.MockTransport` in tests); when
    omitted the client creates one and closes it in `close()`. `sleep` and `clock` default to `time.sleep` and
    `time.monotonic` and are injectable so polling and back-off can be tested without waiting.
    """

    def __init__(
        self,
        settings: AirbyteSettings,
        *,
        http_client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._sleep = sleep
        self._clock = clock
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(
            follow_redirects=True, timeout=httpx.Timeout(settings.request_timeout_seconds)
        )
        assert settings.url is not None and settings.connection_id is not None  # guaranteed by AirbyteSettings
        self.connection_id: str = settings.connection_id
        self._token: _ClientCredentialsToken | None = None
        security: models.Security | Callable[[], models.Security]
        if settings.token is not None:
            security = models.Security(bearer_auth=settings.token.get_secret_value())
        else:
            assert settings.client_id is not None and settings.client_secret is not None
            token = _ClientCredentialsToken(
                self._http, settings.token_url, settings.client_id, settings.client_secret.get_secret_value(), clock
            )
            self._token = token
            # The SDK calls a security callable each time it builds a request: a refreshed token is picked up.
            security = lambda: models.Security(bearer_auth=token.get())  # noqa: E731
        self._api = AirbyteAPI(
            server_url=settings.url,
            security=security,
            client=self._http,
            timeout_ms=int(settings.request_timeout_seconds * 1000),
        )

    # -- lifecycle

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- public API

    def trigger_sync(self) -> int:
        """Start a sync job of the configured connection; returns the Airbyte job id."""
        what = f"triggering a sync of connection {self.connection_id}"
        try:
            response = self._call(
                what,
                lambda: self._api.jobs.create_job(
                    request=models.JobCreateRequest(connection_id=self.connection_id, job_type=models.JobTypeEnum.SYNC)
                ),
                not_found=f"Airbyte connection {self.connection_id} was not found at {self.settings.url} "
                f"(check {_env('connection_id')})",
            )
        except AirbyteConflictError as exc:
            # A retried trigger whose first attempt did reach Airbyte (e.g. the answer timed out) gets 409 because
            # that attempt started the job: follow that job instead of failing. A 409 on the first try is someone
            # else's sync and stays an error.
            running = self._latest_active_job() if exc.after_retry else None
            if running is None:
                raise
            log.warning(
                "trigger of connection %s was retried and Airbyte reports a sync already running: following job %s",
                self.connection_id,
                running.job_id,
            )
            return running.job_id
        job = self._job(response, what)
        log.info("Airbyte sync job %s started for connection %s (%s)", job.job_id, self.connection_id, job.status.value)
        return job.job_id

    def get_status(self, job_id: int) -> SyncResult:
        """One poll of the job; `waited_seconds` is 0."""
        return _result(self._get_job(job_id), 0.0)

    def cancel(self, job_id: int) -> SyncResult | None:
        """Ask Airbyte to cancel the job; returns its state as reported by the cancel answer, if any."""
        what = f"cancelling job {job_id}"
        response = self._call(
            what,
            lambda: self._api.jobs.cancel_job(request=api.CancelJobRequest(job_id=job_id)),
            not_found=f"Airbyte job {job_id} was not found at {self.settings.url}",
        )
        log.warning("cancel requested for Airbyte job %s", job_id)
        return _result(response.job_response, 0.0) if response.job_response is not None else None

    def wait(self, job_id: int) -> SyncResult:
        """Poll the job until it ends, backing off from POLL_INTERVAL to MAX_POLL_INTERVAL seconds.

        Returns the result when it succeeded. Raises AirbyteSyncError when it failed or was cancelled, and
        AirbyteSyncTimeoutError (after sending a cancel request) when TIMEOUT_SECONDS passed first.
        """
        start = self._clock()
        deadline = start + self.settings.timeout_seconds
        interval = self.settings.poll_interval_seconds
        last_seen: str | None = None
        while True:
            job = self._get_job(job_id)
            now = self._clock()
            result = _result(job, now - start)
            if result.airbyte_status != last_seen:
                log.info("Airbyte job %s is %s", job_id, result.airbyte_status)
                last_seen = result.airbyte_status
            if result.status is SyncStatus.SUCCEEDED:
                log.info(
                    "Airbyte job %s succeeded: %s rows, %s bytes, %s",
                    job_id,
                    result.rows_synced,
                    result.bytes_synced,
                    job.duration,
                )
                return result
            if result.status in (SyncStatus.FAILED, SyncStatus.CANCELLED):
                raise AirbyteSyncError(
                    f"Airbyte sync job {job_id} of connection {self.connection_id} ended {result.airbyte_status}"
                    f" after {result.waited_seconds:.0f}s (see the job's logs in Airbyte)",
                    result,
                )
            if now >= deadline:
                raise self._timed_out(result)
            self._sleep(min(interval, deadline - now))
            interval = min(interval * 2, self.settings.max_poll_interval_seconds)

    def run_sync(self) -> SyncResult:
        """Trigger a sync of the configured connection and wait for it (see `wait`)."""
        return self.wait(self.trigger_sync())

    # -- internals

    def _get_job(self, job_id: int) -> models.JobResponse:
        what = f"polling job {job_id}"
        response = self._call(
            what,
            lambda: self._api.jobs.get_job(request=api.GetJobRequest(job_id=job_id)),
            not_found=f"Airbyte job {job_id} was not found at {self.settings.url}",
        )
        return self._job(response, what)

    def _latest_active_job(self) -> models.JobResponse | None:
        """The newest sync job of the connection that has not ended, if any."""
        response = self._call(
            f"listing the jobs of connection {self.connection_id}",
            lambda: self._api.jobs.list_jobs(
                request=api.ListJobsRequest(
                    connection_id=self.connection_id,
                    job_type=models.JobTypeEnum.SYNC,
                    order_by="createdAt|DESC",
                    limit=5,
                )
            ),
            not_found=f"Airbyte connection {self.connection_id} was not found at {self.settings.url}",
        )
        jobs = response.jobs_response.data if response.jobs_response is not None else []
        return next((job for job in jobs if not _STATUS_MAP[job.status].is_terminal), None)

    @staticmethod
    def _job(response: api.CreateJobResponse | api.GetJobResponse, what: str) -> models.JobResponse:
        if response.job_response is None:
            raise AirbyteError(f"Airbyte answered HTTP {response.status_code} without a job while {what}")
        return response.job_response

    def _timed_out(self, result: SyncResult) -> AirbyteSyncTimeoutError:
        job_id = result.job_id
        try:
            self.cancel(job_id)
            cancel_sent, note = True, "a cancel request was sent"
        except AirbyteError as exc:
            log.error("could not cancel Airbyte job %s after the timeout: %s", job_id, exc)
            cancel_sent, note = False, f"cancelling it failed too ({exc}); cancel it in Airbyte"
        return AirbyteSyncTimeoutError(
            f"Airbyte sync job {job_id} of connection {self.connection_id} did not finish within "
            f"{self.settings.timeout_seconds:.0f}s ({_env('timeout_seconds')}); last status {result.airbyte_status};"
            f" {note}",
            result,
            cancel_sent,
        )

    def _call(self, what: str, call: Callable[[], T], *, not_found: str) -> T:
        """Run one SDK call, retrying 429/5xx and connection errors with exponential back-off."""
        attempts = self.settings.max_retries + 1
        refreshed_token = False
        attempt = 0
        while True:
            attempt += 1
            retry_after: float | None = None
            try:
                return call()
            except errors.ResponseValidationError as exc:
                raise AirbyteError(f"unexpected answer from Airbyte while {what}: {exc}") from exc
            except errors.AirbyteAPIError as exc:
                status = exc.status_code
                if status == 401 and self._token is not None and not refreshed_token:
                    # The cached token may have been revoked or expired early: fetch a new one, once.
                    log.info("Airbyte answered 401 while %s: refreshing the access token", what)
                    self._token.invalidate()
                    refreshed_token = True
                    attempt -= 1
                    continue
                if status in (401, 403):
                    raise AirbyteAuthError(
                        f"Airbyte refused the credentials while {what}: HTTP {status} {_excerpt(exc.body)} "
                        f"(check {self._credential_vars()})"
                    ) from exc
                if status == 404:
                    raise AirbyteNotFoundError(f"{not_found}: HTTP 404 {_excerpt(exc.body)}") from exc
                if status == 409:
                    raise AirbyteConflictError(
                        f"Airbyte refused {what}: HTTP 409 {_excerpt(exc.body)} (is a sync already running?)",
                        after_retry=attempt > 1,
                    ) from exc
                if status != 429 and status < 500:
                    raise AirbyteError(f"Airbyte refused {what}: HTTP {status} {_excerpt(exc.body)}") from exc
                reason = f"HTTP {status}"
                retry_after = _retry_after(exc.raw_response)
            except _TransientError as exc:
                reason, retry_after = str(exc), exc.retry_after
            except (httpx.TransportError, errors.NoResponseError) as exc:
                reason = f"{type(exc).__name__}: {exc}"
            if attempt >= attempts:
                raise AirbyteUnavailableError(
                    f"Airbyte API at {self.settings.url} failed {attempts} times while {what}; last error: {reason}"
                )
            delay = self.settings.retry_backoff_seconds * 2 ** (attempt - 1)
            if retry_after is not None:
                delay = retry_after
            delay = min(delay, _MAX_RETRY_DELAY_SECONDS)
            log.warning("%s failed (%s); retry %d/%d in %.1fs", what, reason, attempt, attempts - 1, delay)
            self._sleep(delay)

    def _credential_vars(self) -> str:
        if self.settings.uses_client_credentials:
            return f"{_env('client_id')}/{_env('client_secret')} and the application's permissions"
        return _env("token")
