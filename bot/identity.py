"""Resolve a Slack user ID to an Identity: staff roles from configuration, customer from the verified email.

Emails come from `users.info` in Slack, or from a local directory file (console mode, demo; the Slack modes refuse
it unless FINEFIN_DEV_DIRECTORY=true, see `user_lookup`). Results are cached for `identity_cache_seconds` so a busy
user costs one lookup per TTL, not one per command; `forget(user)` (a `user_change` event) and `forget_all()`
(`tokens_revoked`, `app_uninstalled`) drop them at once.

What a bank signs off:
- nobody without an active Slack account gets a role: a deactivated (`deleted`) user, a bot, or an ID Slack does not
  know is refused, staff included;
- a customer is matched only by an email Slack says is confirmed: `is_email_confirmed` must be `true` (missing
  counts as not confirmed);
- guests (`is_restricted`, `is_ultra_restricted`) get no role that shows customer data (customer, advisor) unless
  FINEFIN_ALLOW_GUESTS=true;
- a failing user-group lookup (e.g. `missing_scope`) means "staff role unknown" for that user: logged, the user keeps
  what else they are (a customer is still answered), and the result is not cached, so it recovers by itself.
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
    active: bool = True  # False: deactivated in Slack, or a bot
    guest: bool = False  # multi- or single-channel guest


class UserLookup(Protocol):
    authoritative: bool  # True: a user it does not know does not exist (Slack); False: a partial stand-in

    def lookup(self, user_id: str) -> DirectoryUser | None: ...

    def group_members(self, group_id: str) -> set[str]: ...


class SlackUserLookup:
    """`users.info` (scopes users:read, users:read.email) and `usergroups.users.list` (usergroups:read)."""

    authoritative = True

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
        profile = user.get("profile") or {}
        return DirectoryUser(
            user_id=user_id,
            email=profile.get("email") or None,
            name=profile.get("display_name") or profile.get("real_name") or user.get("name"),
            email_verified=user.get("is_email_confirmed") is True,  # missing is not confirmed
            active=not (user.get("deleted") or user.get("is_bot") or user.get("is_app_user") or user_id == "USLACKBOT"),
            guest=bool(user.get("is_restricted") or user.get("is_ultra_restricted")),
        )

    def group_members(self, group_id: str) -> set[str]:
        return set(self.client.usergroups_users_list(usergroup=group_id).get("users") or [])


class DirectoryFileLookup:
    """A JSON file `{"U123": {"email": "...", "name": "..."}}` standing in for users.info. No user groups.

    Not authoritative: staff configured by ID need not be listed (console mode, demo)."""

    authoritative = False

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
        return DirectoryUser(
            user_id, entry.get("email"), entry.get("name"), entry.get("email_verified", True) is True,
            entry.get("deleted", False) is not True, entry.get("guest", False) is True,
        )

    def group_members(self, group_id: str) -> set[str]:
        log.warning("user group %s ignored: the local directory has no groups", group_id)
        return set()


class Revocations(Protocol):
    """Identity changes shared by every process (web processes, answer workers, machines).

    `user_change` reaches one web process, while each process (and each answer worker process) caches identities of
    its own. The listener records the change here; every resolver asks, on a cache hit, whether its entry predates a
    change, and re-resolves if so. `user_id=None` means everyone (tokens revoked, app uninstalled). Times are epoch
    seconds. A PostgreSQL implementation belongs to the state database (a table `identity_revocations(user_id text
    primary key, revoked_at timestamptz)`, `'*'` for everyone: an upsert, and one indexed lookup per cache hit).
    """

    def revoke(self, user_id: str | None) -> None: ...

    def revoked_since(self, user_id: str, since: float) -> bool: ...


class LocalRevocations:
    """In-process Revocations (one process, and the tests' model of the shared one)."""

    EVERYONE = "*"

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._at: dict[str, float] = {}

    def revoke(self, user_id: str | None) -> None:
        with self._lock:
            self._at[user_id or self.EVERYONE] = self.clock()

    def revoked_since(self, user_id: str, since: float) -> bool:
        with self._lock:
            return any(self._at.get(key, float("-inf")) >= since for key in (user_id, self.EVERYONE))


class StaffRoleUnknown(Exception):
    """The user-group lookup failed: whether this user is staff cannot be told right now."""


class IdentityResolver:
    """Thread-safe TTL cache in front of a UserLookup and the semantic layer's customer_by_email."""

    def __init__(
        self, lookup: UserLookup, sl: SemanticLayer, settings: BotSettings, clock: Callable[[], float] = time.monotonic,
        revocations: Revocations | None = None, wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.lookup = lookup
        self.sl = sl
        self.settings = settings
        self.clock = clock
        self.revocations = revocations
        self.wall_clock = wall_clock
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, Identity, float]] = {}  # (monotonic stamp, identity, wall-clock stamp)
        self._groups: dict[str, tuple[float, set[str]]] = {}

    def _fresh(self, stamp: float) -> bool:
        return self.clock() - stamp < self.settings.identity_cache_seconds

    def forget(self, user_id: str) -> None:
        """Drop one user's cached identity (their profile changed: deactivated, email, guest status)."""
        with self._lock:
            dropped = self._cache.pop(user_id, None)
        if self.revocations is not None:
            self.revocations.revoke(user_id)
        log.info("identity cache: %s dropped (%s)", user_id, "was cached" if dropped else "not cached")

    def forget_all(self) -> None:
        """Drop every cached identity and group (tokens revoked, app uninstalled)."""
        with self._lock:
            n = len(self._cache)
            self._cache.clear()
            self._groups.clear()
        if self.revocations is not None:
            self.revocations.revoke(None)
        log.warning("identity cache cleared (%d identities)", n)

    def _members(self, group_id: str | None) -> set[str]:
        if not group_id:
            return set()
        with self._lock:
            hit = self._groups.get(group_id)
            if hit and self._fresh(hit[0]):
                return hit[1]
        try:
            members = self.lookup.group_members(group_id)
        except Exception as exc:
            raise StaffRoleUnknown(f"user group {group_id}: {_slack_error(exc)}") from exc
        with self._lock:
            self._groups[group_id] = (self.clock(), members)
        return members

    def _staff(self, user_id: str, configured: list[str], group_id: str | None) -> bool | None:
        """True/False, or None when the group lookup failed (staff role unknown)."""
        if user_id in configured:
            return True
        try:
            return user_id in self._members(group_id)
        except StaffRoleUnknown as exc:
            log.warning("staff role unknown for %s: %s; treated as not staff for this request", user_id, exc)
            return None

    def resolve(self, user_id: str) -> Identity:
        with self._lock:
            hit = self._cache.get(user_id)
        if hit and self._fresh(hit[0]) and not self._revoked(user_id, hit[2]):
            return hit[1]
        stamp = self.wall_clock()
        identity, complete = self._resolve(user_id)
        if complete:  # a degraded answer (group lookup failed) is not cached: the next request tries again
            with self._lock:
                self._cache[user_id] = (self.clock(), identity, stamp)
        return identity

    def _revoked(self, user_id: str, since: float) -> bool:
        """Changed in another process since it was cached? When that cannot be told, assume so (ask Slack again)."""
        if self.revocations is None:
            return False
        try:
            return self.revocations.revoked_since(user_id, since)
        except Exception:
            log.warning("identity revocations unavailable; %s looked up again", user_id, exc_info=True)
            return True

    def _resolve(self, user_id: str) -> tuple[Identity, bool]:
        user = self.lookup.lookup(user_id)
        if (user is None and getattr(self.lookup, "authoritative", True)) or (user is not None and not user.active):
            log.info("resolved %s: refused (%s)", user_id, "unknown to Slack" if user is None else "deactivated or bot")
            return Identity(user_id, frozenset(), None, user.name if user else None), True
        roles: set[Role] = set()
        advisor = self._staff(user_id, self.settings.advisors, self.settings.advisor_group)
        director = self._staff(user_id, self.settings.directors, self.settings.director_group)
        if advisor:
            roles.add(Role.ADVISOR)
        if director:
            roles.add(Role.DIRECTOR)
        customer = None
        if user is not None and user.email and user.email_verified:
            customer = self.sl.customer_by_email(user.email)
        if customer is not None:
            roles.add(Role.CUSTOMER)
        if user is not None and user.guest and not self.settings.allow_guests:
            dropped = roles & CUSTOMER_DATA_ROLES
            if dropped:
                log.warning("resolved %s: a Slack guest; roles %s refused (FINEFIN_ALLOW_GUESTS is off)",
                            user_id, sorted(dropped))
            roles -= CUSTOMER_DATA_ROLES
            customer = None
        log.info(
            "resolved %s: roles=%s customer=%s", user_id, sorted(roles), customer.customer_id if customer else None
        )
        complete = advisor is not None and director is not None
        return Identity(user_id, frozenset(roles), customer, user.name if user else None), complete


CUSTOMER_DATA_ROLES = frozenset({Role.CUSTOMER, Role.ADVISOR})
"""Roles that show one customer's data: a guest gets neither unless FINEFIN_ALLOW_GUESTS=true."""


def _slack_error(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    error = response.get("error") if response is not None and hasattr(response, "get") else None
    return str(error or type(exc).__name__)


def user_lookup(settings: BotSettings, client: Any) -> UserLookup:
    """The Slack modes' user lookup: `users.info`. FINEFIN_DIRECTORY_FILE is a console/demo stand-in, refused here
    unless FINEFIN_DEV_DIRECTORY=true (a development setup talking to a real or fake Slack)."""
    if settings.directory_file is None:
        return SlackUserLookup(client)
    if not settings.dev_directory:
        raise ConfigurationError(
            f"FINEFIN_DIRECTORY_FILE ({settings.directory_file}) stands in for Slack profiles in console mode and the "
            "demo only; the Slack app verifies users with users.info. Unset it, or set FINEFIN_DEV_DIRECTORY=true "
            "for a development setup."
        )
    log.warning("FINEFIN_DEV_DIRECTORY: users come from %s, not from Slack (development only)", settings.directory_file)
    return DirectoryFileLookup(settings.directory_file)
