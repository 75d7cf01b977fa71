"""Resolve a Slack user ID to an Identity: staff roles from configuration, customer from the verified email.

Emails come from `users.info` in Slack, or from a local directory file (console mode, demo). Results are cached
for `identity_cache_seconds` so a busy user costs one lookup per TTL, not one per command.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from bot.access import Identity, Role
from bot.settings import BotSettings
from finefin.errors import ConfigurationError
from semantic_layer.api import SemanticLayer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DirectoryUser:
    user_id: str
    email: str | None
    name: str | None
    email_verified: bool = True


class UserLookup(Protocol):
    def lookup(self, user_id: str) -> DirectoryUser | None: ...

    def group_members(self, group_id: str) -> set[str]: ...


class SlackUserLookup:
    """`users.info` (scopes users:read, users:read.email) and `usergroups.users.list` (usergroups:read)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def lookup(self, user_id: str) -> DirectoryUser | None:
        from slack_sdk.errors import SlackApiError

        try:
            user = self.client.users_info(user=user_id)["user"]
        except SlackApiError as exc:
            if exc.response.get("error") in ("user_not_found", "user_not_visible"):
                return None
            raise
        if user.get("deleted") or user.get("is_bot"):
            return None
        profile = user.get("profile") or {}
        return DirectoryUser(
            user_id=user_id,
            email=profile.get("email") or None,
            name=profile.get("display_name") or profile.get("real_name") or user.get("name"),
            # Slack only exposes confirmed emails; an explicit `is_email_confirmed: false` is refused.
            email_verified=user.get("is_email_confirmed", True) is not False,
        )

    def group_members(self, group_id: str) -> set[str]:
        return set(self.client.usergroups_users_list(usergroup=group_id).get("users") or [])


class DirectoryFileLookup:
    """A JSON file `{"U123": {"email": "...", "name": "..."}}` standing in for users.info. No user groups."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigurationError(f"User directory {path} does not exist (FINEFIN_DIRECTORY_FILE).") from None
        except json.JSONDecodeError as exc:
            raise ConfigurationError(f"User directory {path} is not valid JSON: {exc.msg}.") from None
        if not isinstance(raw, dict):
            raise ConfigurationError(f"User directory {path} must map Slack user IDs to {{email, name}}.")
        self.users = {str(k): v for k, v in raw.items() if isinstance(v, dict)}

    def lookup(self, user_id: str) -> DirectoryUser | None:
        entry = self.users.get(user_id)
        if entry is None:
            return None
        return DirectoryUser(user_id, entry.get("email"), entry.get("name"), bool(entry.get("email_verified", True)))

    def group_members(self, group_id: str) -> set[str]:
        log.warning("user group %s ignored: the local directory has no groups", group_id)
        return set()


class IdentityResolver:
    """Thread-safe TTL cache in front of a UserLookup and the semantic layer's customer_by_email."""

    def __init__(
        self, lookup: UserLookup, sl: SemanticLayer, settings: BotSettings, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.lookup = lookup
        self.sl = sl
        self.settings = settings
        self.clock = clock
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, Identity]] = {}
        self._groups: dict[str, tuple[float, set[str]]] = {}

    def _fresh(self, stamp: float) -> bool:
        return self.clock() - stamp < self.settings.identity_cache_seconds

    def _members(self, group_id: str | None) -> set[str]:
        if not group_id:
            return set()
        with self._lock:
            hit = self._groups.get(group_id)
            if hit and self._fresh(hit[0]):
                return hit[1]
        members = self.lookup.group_members(group_id)
        with self._lock:
            self._groups[group_id] = (self.clock(), members)
        return members

    def resolve(self, user_id: str) -> Identity:
        with self._lock:
            hit = self._cache.get(user_id)
            if hit and self._fresh(hit[0]):
                return hit[1]
        identity = self._resolve(user_id)
        with self._lock:
            self._cache[user_id] = (self.clock(), identity)
        return identity

    def _resolve(self, user_id: str) -> Identity:
        roles: set[Role] = set()
        if user_id in self.settings.advisors or user_id in self._members(self.settings.advisor_group):
            roles.add(Role.ADVISOR)
        if user_id in self.settings.directors or user_id in self._members(self.settings.director_group):
            roles.add(Role.DIRECTOR)
        user = self.lookup.lookup(user_id)
        customer = None
        if user is not None and user.email and user.email_verified:
            customer = self.sl.customer_by_email(user.email)
        if customer is not None:
            roles.add(Role.CUSTOMER)
        log.info(
            "resolved %s: roles=%s customer=%s", user_id, sorted(roles), customer.customer_id if customer else None
        )
        return Identity(user_id, frozenset(roles), customer, user.name if user else None)
