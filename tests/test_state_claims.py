"""claim / complete / release on the state database (delivery keys and the post ledger share the semantics):
one winner among threads and processes, a failed attempt can be redone, a dead process's claim expires."""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text

from bot.dedupe import MemoryClaims
from bot.state import open_state
from bot.state.claims import ClaimKeys
from bot.state.models import DeliveryKey
from bot.state.settings import StateSettings

pytest_plugins = ["tests.bot_support"]


@pytest.fixture(params=["postgres", "postgres-ack-path", "memory"])
def claims(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The PostgreSQL table (through SQLAlchemy, and as the web process claims on the ack path: one prepared
    statement on the autocommit ack pool), and the memory-only stand-in used by unit tests: the same contract."""
    if request.param == "memory":
        yield MemoryClaims()
        return
    store = request.getfixturevalue("state_store")
    if request.param == "postgres":
        yield store.deliveries
        return
    bot_store = open_state(request.getfixturevalue("state_url"), upgrade=False, on_request_path=True)
    assert bot_store.deliveries.ack_engine is not None
    yield bot_store.deliveries
    bot_store.close()


def test_the_ack_path_claim_survives_a_server_side_disconnect(state_store: Any, state_url: str) -> None:
    """No pre-ping on the ack pool: when PostgreSQL dropped its connections (a restart), the claim notices on its
    statement, opens a new pool and succeeds; the request is not handled without de-duplication."""
    bot_store = open_state(state_url, upgrade=False, on_request_path=True)
    try:
        assert bot_store.deliveries.claim("trigger_id:before")
        with state_store.engine.begin() as conn:
            killed = conn.execute(text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()")).scalar()
        assert killed >= 1  # the ack pool's connection (kept after the first claim) is gone
        time.sleep(0.2)
        assert bot_store.deliveries.claim("trigger_id:after")
        assert not bot_store.deliveries.claim("trigger_id:after")
        assert not bot_store.deliveries.claim("trigger_id:before")
    finally:
        bot_store.close()


def test_claim_complete_release(claims: Any) -> None:
    assert claims.claim("trigger_id:a")
    assert not claims.claim("trigger_id:a")  # in hand
    assert claims.complete("trigger_id:a")
    assert not claims.claim("trigger_id:a")  # done: never again
    assert not claims.release("trigger_id:a")  # a done key is not released

    assert claims.claim("trigger_id:b")
    assert claims.release("trigger_id:b")  # the work failed
    assert claims.claim("trigger_id:b")  # so the retry does it
    assert claims.complete("trigger_id:b")
    assert not claims.complete("trigger_id:unknown")


def test_threads_claiming_the_same_key_one_wins(claims: Any) -> None:
    n = 8
    barrier = threading.Barrier(n)
    won: list[bool] = []

    def attempt() -> None:
        barrier.wait()
        won.append(claims.claim("event_id:Ev1"))

    threads = [threading.Thread(target=attempt) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(won) == [False] * (n - 1) + [True]


def _claim_in_process(url: str, keys: list[str], start_at: float, out: Any) -> None:
    store = open_state(url, upgrade=False, on_request_path=True)  # as the web processes claim
    time.sleep(max(0.0, start_at - time.time()))
    out.put([k for k in keys if store.deliveries.claim(k)])
    store.close()


def test_processes_claiming_the_same_keys_each_key_has_one_winner(state_store: Any, state_url: str) -> None:
    keys = [f"trigger_id:{i}" for i in range(40)]
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    start_at = time.time() + 4.0  # both processes claim at the same moment, after their imports
    procs = [ctx.Process(target=_claim_in_process, args=(state_url, keys, start_at, out)) for _ in range(2)]
    for p in procs:
        p.start()
    won = [out.get(timeout=60), out.get(timeout=60)]
    for p in procs:
        p.join(timeout=30)
    assert sorted(won[0] + won[1]) == sorted(keys)  # every key claimed exactly once across the two
    assert not set(won[0]) & set(won[1])


def test_a_dead_processs_claim_expires(state_store: Any) -> None:
    settings = StateSettings(claim_timeout_seconds=0.5)
    first = ClaimKeys(state_store.engine, DeliveryKey.__table__, settings.claim_timeout_seconds)  # type: ignore[arg-type]
    second = ClaimKeys(state_store.engine, DeliveryKey.__table__, settings.claim_timeout_seconds)  # type: ignore[arg-type]
    assert first.claim("trigger_id:crash")  # ... and its process dies
    assert not second.claim("trigger_id:crash")
    time.sleep(0.7)
    assert second.claim("trigger_id:crash")  # taken over
    assert not first.complete("trigger_id:crash") and not first.release("trigger_id:crash")  # too late: not its own
    assert second.complete("trigger_id:crash")
    time.sleep(0.7)
    assert not first.claim("trigger_id:crash")  # a done key never expires


def test_memory_claims_expire_by_their_clock() -> None:
    now = [0.0]
    claims = MemoryClaims(timeout=10, clock=lambda: now[0])
    assert claims.claim("k") and not claims.claim("k")
    now[0] = 11.0
    assert claims.claim("k")


def test_pruning_forgets_old_keys(state_store: Any) -> None:
    keys = state_store.deliveries
    assert keys.claim("old") and keys.complete("old") and keys.claim("new")
    with state_store.engine.begin() as conn:
        conn.execute(text("UPDATE delivery_keys SET claimed_at = now() - interval '8 days' WHERE key = 'old'"))
    assert state_store.prune().delivery_keys == 1
    assert keys.claim("old") and not keys.claim("new")


