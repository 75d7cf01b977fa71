"""What a command handler may use: the semantic layer, the bot's settings and the freshness stamp."""

from __future__ import annotations

from typing import Protocol, cast

from bot.access import Identity, Role
from bot.serialized import Serialized, unwrap
from bot.settings import BotSettings
from semantic_layer.api import SemanticLayer
from semantic_layer.errors import SemanticLayerError
from semantic_layer.policy import Audience, Principal
from semantic_layer.query_service import QueryService, query_service
from semantic_layer.service import MetricFlowSemanticLayer
from semantic_layer.types import Freshness

_AUDIENCE = {Role.DIRECTOR: Audience.DIRECTOR, Role.ADVISOR: Audience.ADVISOR, Role.CUSTOMER: Audience.CUSTOMER}


class CommandContext(Protocol):
    sl: SemanticLayer
    settings: BotSettings

    def freshness(self) -> Freshness: ...


def principal_of(identity: Identity) -> Principal:
    """The semantic layer's principal for a bot identity: roles map one to one; the customer id comes from the
    verified identity (the customer record matched on the Slack email), never from the command's text."""
    audiences = frozenset(_AUDIENCE[r] for r in identity.roles)
    if Audience.CUSTOMER in audiences and identity.customer is None:
        audiences -= {Audience.CUSTOMER}
    customer_id = identity.customer.customer_id if identity.customer is not None else None
    return Principal(audiences, customer_id if Audience.CUSTOMER in audiences else None)


def queries(ctx: CommandContext) -> QueryService:
    """The query service of the assistant's semantic layer. The bot's layer is shared by threads behind one lock
    (bot/serialized.py): the service is then used under that same lock."""
    sl, lock = unwrap(ctx.sl)
    if not isinstance(sl, MetricFlowSemanticLayer):
        raise SemanticLayerError("Ad-hoc metric questions need the MetricFlow semantic layer.")
    service = query_service(sl)
    return service if lock is None else cast(QueryService, Serialized(service, lock))
