"""The bot's settings: Slack credentials (SLACK_*) and who is staff, where to post, the freshness SLA (FINEFIN_*)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _split_ids(value: object) -> object:
    """`U1,U2` or `U1 U2` → ["U1", "U2"]; lists pass through."""
    if isinstance(value, str):
        return [part for part in value.replace(",", " ").split() if part]
    return value


class BotSettings(BaseSettings):
    """Every field reads `FINEFIN_<NAME>`, except the three Slack credentials (`SLACK_BOT_TOKEN`, …)."""

    model_config = SettingsConfigDict(env_prefix="FINEFIN_", extra="ignore", populate_by_name=True)

    slack_bot_token: str | None = Field(
        default=None,
        validation_alias=AliasChoices("SLACK_BOT_TOKEN", "slack_bot_token"),
        description="Bot token (xoxb-…). Unset: only the console mode works.",
    )
    slack_signing_secret: str | None = Field(
        default=None,
        validation_alias=AliasChoices("SLACK_SIGNING_SECRET", "slack_signing_secret"),
        description="Signing secret; HTTP mode verifies every request with it.",
    )
    slack_app_token: str | None = Field(
        default=None,
        validation_alias=AliasChoices("SLACK_APP_TOKEN", "slack_app_token"),
        description="App-level token (xapp-…) for Socket Mode.",
    )
    slack_api_url: str = Field(default="https://slack.com/api/", description="Slack Web API base URL.")

    advisors: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Slack user IDs of advisors, comma separated."
    )
    directors: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Slack user IDs of directors, comma separated."
    )
    advisor_group: str | None = Field(default=None, description="Slack user group ID whose members are advisors.")
    director_group: str | None = Field(default=None, description="Slack user group ID whose members are directors.")
    advisor_assignments: dict[str, list[int]] = Field(
        default_factory=dict, description='JSON: advisor user ID → their customer ids, e.g. {"U1": [42, 43]}. Optional.'
    )
    advisor_channel: str | None = Field(default=None, description="Channel ID of the advisors' daily watchlist.")
    director_channel: str | None = Field(default=None, description="Channel ID of the directors' monthly digest.")
    alerts_channel: str | None = Field(default=None, description="Channel ID for operational alerts.")
    directory_file: Path | None = Field(
        default=None,
        description="Local user directory (JSON) replacing users.info: console mode and demo only; the Slack modes "
        "refuse to start with it unless FINEFIN_DEV_DIRECTORY=true.",
    )
    dev_directory: bool = Field(
        default=False, description="Development only: let HTTP / Socket Mode use FINEFIN_DIRECTORY_FILE."
    )
    allow_guests: bool = Field(
        default=False,
        description="Let Slack guests (multi- and single-channel) see customer data; by default they are refused.",
    )
    max_body_bytes: int = Field(
        default=64 * 1024, ge=1024, le=10 * 1024 * 1024,
        description="HTTP mode: larger request bodies are refused (413) before they are read whole.",
    )
    freshness_sla_hours: float | None = Field(
        default=None, gt=0, description="Warn when the last load is older; unset: the semantic layer's SLA."
    )
    identity_cache_seconds: float = Field(
        default=60.0, ge=0,
        description="TTL of user → role/customer lookups: the longest a profile change (deactivation, guest, email) "
        "can go unnoticed by a process the user_change event did not reach.",
    )
    admin_users: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Slack user IDs, comma separated, who may list, pause, resume and delete anyone's subscriptions "
        "and alerts (each change audited under the admin's name).",
    )
    timezone: str = Field(
        default="UTC", description="IANA time zone of the workspace: subscriptions' `at HH:MM` are in it."
    )
    home_refresh_days: int = Field(
        default=7, ge=0, le=90,
        description="After each data publish, re-publish the Home tab of the users who opened it in the last N days "
        "(0: never).",
    )
    delivery_workers: int = Field(
        default=4, ge=1, le=16,
        description="Threads posting the deliveries of a refresh, one channel (or DM) at a time each: a channel's "
        "messages stay in order and one a second.",
    )
    list_limit: int = Field(default=15, ge=1, le=40, description="Rows shown in Slack before a list is truncated.")
    bank_name: str = Field(default="FineFinance", min_length=1, description="Bank name printed on statements.")
    bank_address: str = Field(
        default="12 rue de la Banque, 75002 Paris, France", min_length=1,
        description="Bank postal address printed on statements (one line).",
    )
    bank_legal: str = Field(
        default="FineFinance SA, 12 rue de la Banque, 75002 Paris, France. A demonstration bank: the customers and "
                "figures are synthetic. Please report any error on this statement within 30 days.",
        min_length=1, description="Legal line printed at the foot of every statement page.",
    )

    _split = field_validator("advisors", "directors", "admin_users", mode="before")(_split_ids)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (expected an IANA name such as Europe/Paris)") from None
        return value


@lru_cache(maxsize=1)
def get_bot_settings() -> BotSettings:
    """The bot's settings; a bad value is one ConfigurationError line naming the variable."""
    from finefin.config import load_settings

    return load_settings(BotSettings)
