"""Identity revocations in the state database: a `user_change` seen by one process drops every process's cache."""

from __future__ import annotations

import json
import time
from typing import Any

from bot.identity import DirectoryFileLookup, IdentityResolver
from bot.listeners.events.identity_changes import make_forget_all, make_user_change
from bot.state import open_state
from tests.bot_support import People, settings_for, write_directory

pytest_plugins = ["tests.bot_support"]


def test_revoked_since_compares_with_the_time_of_the_change(state_url: str) -> None:
    store = open_state(state_url)
    try:
        before = time.time() - 5
        assert not store.revocations.revoked_since("U1", before)
        store.revocations.revoke("U1")
        assert store.revocations.revoked_since("U1", before)
        assert not store.revocations.revoked_since("U1", time.time() + 60)  # cached after the change: still good
        assert not store.revocations.revoked_since("U2", before)
        store.revocations.revoke(None)  # everyone
        assert store.revocations.revoked_since("U2", before)
    finally:
        store.close()


def test_user_change_in_one_process_reaches_the_resolver_of_another(
    state_url: str, semantic_layer_impl: Any, people: People, tmp_path: Any
) -> None:
    """Two stores on one database stand for two processes: the web process that receives the event and an answer
    worker whose resolver cached the user."""
    web, worker = open_state(state_url), open_state(state_url)
    try:
        directory = write_directory(tmp_path / "directory.json", semantic_layer_impl, people)
        settings = settings_for(people, identity_cache_seconds=3600)
        resolver = IdentityResolver(DirectoryFileLookup(directory), semantic_layer_impl, settings,
                                    revocations=worker.revocations)
        assert resolver.resolve(people.customer).customer is not None
        entries = json.loads(directory.read_text())
        entries[people.customer]["deleted"] = True
        directory.write_text(json.dumps(entries))
        resolver.lookup = DirectoryFileLookup(directory)
        assert resolver.resolve(people.customer).customer is not None  # cached, nobody said anything yet
        make_user_change(web.revocations.revoke)({"type": "user_change", "user": {"id": people.customer}})
        assert not resolver.resolve(people.customer).known

        staff = people.advisor
        assert resolver.resolve(staff).known
        assert resolver.resolve(staff).known  # cached
        entries[staff] = {**entries.get(staff, {}), "deleted": True}
        directory.write_text(json.dumps(entries))
        resolver.lookup = DirectoryFileLookup(directory)
        make_forget_all(lambda: web.revocations.revoke(None))({"type": "tokens_revoked"})
        assert not resolver.resolve(staff).known  # every cached identity was dropped: the deleted one is refused
    finally:
        web.close()
        worker.close()
