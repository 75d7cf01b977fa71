"""Settings of the answer runtime (bot/runtime.py): how many worker processes, how much queued work."""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_workers() -> int:
    return min(4, os.cpu_count() or 1)


class RuntimeSettings(BaseSettings):
    """`FINEFIN_ANSWER_WORKERS`, `FINEFIN_MAX_PENDING`, `FINEFIN_ANSWER_WORKER_NICE`, `FINEFIN_DELIVERY_THREADS`,
    `FINEFIN_WARMUP_SECONDS`, `FINEFIN_ANSWER_TIMEOUT_S`."""

    model_config = SettingsConfigDict(env_prefix="FINEFIN_", extra="ignore")

    answer_workers: int = Field(
        default_factory=default_workers, ge=0, le=64,
        description="Worker processes computing answers per web process; 0: threads in the web process (debug).",
    )
    max_pending: int = Field(
        default=200, ge=1, description="Requests accepted but not yet answered, per web process; beyond: 'busy'."
    )
    answer_worker_nice: int = Field(
        default=10, ge=0, le=19,
        description="Niceness added to the answer workers, so the acks of the web process get the CPU first.",
    )
    delivery_threads: int = Field(default=8, ge=1, le=64, description="Threads posting answers to Slack.")
    warmup_seconds: float = Field(
        default=120.0, ge=0, description="How long start-up waits for the workers to be warm before serving."
    )

    answer_timeout_s: float = Field(
        default=60.0, gt=0,
        description="An answer computing longer than this in a worker process gets a polite 'took too long' and "
        "its worker is replaced (a hung query or renderer must not hold a worker forever).",
    )


@lru_cache(maxsize=1)
def get_runtime_settings() -> RuntimeSettings:
    return RuntimeSettings()
