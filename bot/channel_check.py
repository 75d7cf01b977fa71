"""May a channel receive an answer? Only when every member of the channel may see it (issue 16).

`conversations.members` lists the channel; each member is resolved like a user of the bot (Slack profile, roles,
customer record) and must be allowed the owner's query by the access policy (`QueryService.prepare` as that member)
without a customer scope: a customer, a guest, a deactivated or unknown account (another app's bot too: it reads the
channel) makes the channel refuse, with the reason. The bot itself is not counted. Checked when the subscription or
alert is set (`bot.commands.subscribe`/`alert`) and again at each delivery (`bot.deliveries`): someone who joined
later stops the post and the owner is told why.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from slack_sdk.errors import SlackApiError

from bot.access import Identity
from bot.commands.errors import BotUsageError
from semantic_layer.errors import SemanticLayerError
from semantic_layer.policy import Principal
from semantic_layer.query import MetricQuery

log = logging.getLogger(__name__)
MAX_MEMBERS = 1000  # a larger channel is refused: its members cannot all be checked at each delivery
PAGE = 200
_MEMBER = re.compile(r"[UW][A-Z0-9]{2,30}")


class ChannelRefused(BotUsageError):
    """The channel may not receive the answer (shown as written: it holds user and channel mentions)."""


class ChannelUnreadable(Exception):
    """Slack would not list the channel's members (a transient error: the caller retries later)."""


class ChannelCheck:
    def __init__(self, client: Any, resolve: Callable[[str], Identity], max_members: int = MAX_MEMBERS) -> None:
        self.client, self.resolve, self.max_members = client, resolve, max_members
        self._members: dict[str, list[str] | str] = {}  # channel -> member ids, or the refusal (one run / request)
        self._verdicts: dict[tuple[str, Principal, MetricQuery], str | None] = {}  # items sharing a channel and query
        self._bot: str | None = None

    def refusal(self, service: Any, owner: Principal, query: MetricQuery, channel: str) -> str | None:
        """None when every member may see `query`'s answer as the owner sees it; else why not (one sentence,
        plain text with user mentions)."""
        key = (channel, owner, query)
        if key not in self._verdicts:
            self._verdicts[key] = self._refusal(service, owner, query, channel)
        return self._verdicts[key]

    def _refusal(self, service: Any, owner: Principal, query: MetricQuery, channel: str) -> str | None:
        from bot.commands.context import principal_of

        members = self.members(channel)
        if isinstance(members, str):
            return members
        for user_id in members:
            identity = self.resolve(user_id)
            if not identity.known:
                return (f"<@{user_id}> in <#{channel}> is not someone I may show data to (a guest, a deactivated "
                        "account, another app, or nobody I recognise)")
            principal = principal_of(identity)
            if principal.scope is not None and owner.scope is None:
                return f"<@{user_id}> in <#{channel}> is a customer, who may see only their own accounts"
            try:
                service.prepare(principal, query)
            except SemanticLayerError:
                return f"<@{user_id}> in <#{channel}> may not see {', '.join(query.metrics)}"
        return None

    def members(self, channel: str) -> list[str] | str:
        """The channel's members (the bot left out), or a refusal when Slack says the channel is gone or the bot
        cannot read it, or the channel is too large to check. Raises ChannelUnreadable for other errors."""
        if channel in self._members:
            return self._members[channel]
        found: list[str] = []
        cursor = None
        try:
            while True:
                page = self.client.conversations_members(channel=channel, limit=PAGE, cursor=cursor)
                found += [m for m in page.get("members") or [] if isinstance(m, str) and _MEMBER.fullmatch(m)]
                if len(found) > self.max_members:
                    result: list[str] | str = (f"<#{channel}> has more than {self.max_members:,d} members, too many "
                                               "to check that each may see the answer")
                    break
                cursor = (page.get("response_metadata") or {}).get("next_cursor")
                if not cursor:
                    bot = self.bot_user_id()
                    result = [m for m in found if m != bot]
                    break
        except SlackApiError as exc:
            error = exc.response.get("error")
            if error not in ("channel_not_found", "not_in_channel", "is_archived", "missing_scope"):
                raise ChannelUnreadable(f"{channel}: {error}") from exc
            result = f"I cannot read who is in <#{channel}> ({error}): invite me to it first"
        self._members[channel] = result
        return result

    def bot_user_id(self) -> str | None:
        if self._bot is None:
            try:
                self._bot = str(self.client.auth_test().get("user_id") or "")
            except SlackApiError:
                log.warning("auth.test failed: the bot's own id is unknown", exc_info=True)
                self._bot = ""
        return self._bot or None


def channel_check_of(ctx: Any) -> ChannelCheck | None:
    """The context's checker (tests and the delivery engine set `ctx.channels`), else one over the resolver's Slack
    client; None when there is no Slack client (console mode, the local directory)."""
    check = getattr(ctx, "channels", None)
    if check is not None:
        return check  # type: ignore[no-any-return]
    resolver = getattr(ctx, "resolver", None)
    client = getattr(getattr(resolver, "lookup", None), "client", None)
    if resolver is None or client is None:
        return None
    return ChannelCheck(client, resolver.resolve)


def require_channel(ctx: Any, service: Any, owner: Principal, query: MetricQuery, channel: str) -> None:
    """Raise ChannelRefused unless every member of `channel` may see the answer (when a subscription or alert is
    set to it)."""
    check = channel_check_of(ctx)
    if check is None:
        raise ChannelRefused("I cannot check who is in that channel here: deliveries to a channel need Slack.")
    try:
        reason = check.refusal(service, owner, query, channel)
    except ChannelUnreadable:
        log.warning("channel %s: members not listed", channel, exc_info=True)
        raise ChannelRefused("Slack did not tell me who is in that channel: please try again in a minute.") from None
    if reason is not None:
        raise ChannelRefused(f"Not to <#{channel}>: {reason}. Everyone in the channel must be allowed to see it; "
                             "leave out `to #channel` to get it in your DMs.")
