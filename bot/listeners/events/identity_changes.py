"""Keep cached identities honest: `user_change` drops that user's; `tokens_revoked` / `app_uninstalled` drop all.

A deactivated user, a changed email or a member turned guest is then re-checked with `users.info` on their next
request instead of keeping access until the cache expires.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from bot.identity import IdentityResolver

log = logging.getLogger(__name__)


def make_user_change(resolver: IdentityResolver) -> Callable[..., None]:
    def user_change(event: dict[str, Any]) -> None:
        user = event.get("user")
        user_id = user.get("id") if isinstance(user, dict) else None
        if isinstance(user_id, str) and user_id:
            resolver.forget(user_id)

    return user_change


def make_forget_all(resolver: IdentityResolver) -> Callable[..., None]:
    def forget_all(event: dict[str, Any]) -> None:
        log.warning("%s: every cached identity dropped", event.get("type"))
        resolver.forget_all()

    return forget_all
