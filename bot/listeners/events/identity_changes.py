"""Keep cached identities honest: `user_change` drops that user's; `tokens_revoked` / `app_uninstalled` drop all.
A `user_change` saying the account is deactivated (`deleted`) also disables that user's subscriptions and alerts.

A deactivated user, a changed email or a member turned guest is then re-checked with `users.info` on their next
request instead of keeping access until the cache expires. The listeners take the two callables rather than a
resolver: in one process they are `IdentityResolver.forget` / `forget_all`; when identities are resolved in other
processes (answer workers, other web processes) they must record the change where every resolver looks
(`bot.identity.Revocations`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


DEACTIVATED = "the owner's Slack account was deactivated"


def make_user_change(forget: Callable[[str], None],
                     disable: Callable[[str, str], int] | None = None) -> Callable[..., None]:
    """`disable(user_id, reason)`: a deactivated user's subscriptions and alerts are disabled at once (the state
    database, audited), not only at the next delivery run."""
    def user_change(event: dict[str, Any]) -> None:
        user = event.get("user")
        user_id = user.get("id") if isinstance(user, dict) else None
        if isinstance(user_id, str) and user_id:
            forget(user_id)
            if disable is not None and isinstance(user, dict) and user.get("deleted") is True:
                try:
                    n = disable(user_id[:32], DEACTIVATED)
                except Exception:  # the next delivery run disables them anyway (it re-resolves each owner)
                    log.exception("user_change: the items of deactivated %s not disabled", user_id)
                else:
                    log.info("user_change: %s deactivated, %d subscriptions/alerts disabled", user_id, n)

    return user_change


def make_forget_all(forget_all: Callable[[], None]) -> Callable[..., None]:
    def on_lifecycle_event(event: dict[str, Any]) -> None:
        log.warning("%s: every cached identity dropped", event.get("type"))
        forget_all()

    return on_lifecycle_event
