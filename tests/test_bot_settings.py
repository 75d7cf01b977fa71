"""Bot settings from the environment: the variables the README lists."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.settings import BotSettings


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env = {
        "SLACK_BOT_TOKEN": "xoxb-1",
        "SLACK_SIGNING_SECRET": "sig",
        "SLACK_APP_TOKEN": "xapp-1",
        "FINEFIN_ADVISORS": "U1, U2 ,U3",
        "FINEFIN_DIRECTORS": "U9",
        "FINEFIN_ADVISOR_GROUP": "S1",
        "FINEFIN_DIRECTOR_GROUP": "S2",
        "FINEFIN_ADVISOR_ASSIGNMENTS": '{"U1": [42, 43]}',
        "FINEFIN_ADVISOR_CHANNEL": "CADV",
        "FINEFIN_DIRECTOR_CHANNEL": "CDIR",
        "FINEFIN_ALERTS_CHANNEL": "CALERT",
        "FINEFIN_DIRECTORY_FILE": str(tmp_path / "d.json"),
        "FINEFIN_FRESHNESS_SLA_HOURS": "26",
        "FINEFIN_IDENTITY_CACHE_SECONDS": "30",
        "FINEFIN_LIST_LIMIT": "20",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    s = BotSettings()
    assert (s.slack_bot_token, s.slack_signing_secret, s.slack_app_token) == ("xoxb-1", "sig", "xapp-1")
    assert s.advisors == ["U1", "U2", "U3"] and s.directors == ["U9"]
    assert (s.advisor_group, s.director_group) == ("S1", "S2")
    assert s.advisor_assignments == {"U1": [42, 43]}
    assert (s.advisor_channel, s.director_channel, s.alerts_channel) == ("CADV", "CDIR", "CALERT")
    assert s.directory_file == tmp_path / "d.json"
    assert s.freshness_sla_hours == 26 and s.identity_cache_seconds == 30 and s.list_limit == 20


def test_defaults_and_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("SLACK_BOT_TOKEN", "FINEFIN_ADVISORS", "FINEFIN_FRESHNESS_SLA_HOURS"):
        monkeypatch.delenv(key, raising=False)
    s = BotSettings()
    assert s.advisors == [] and s.slack_bot_token is None and s.freshness_sla_hours is None
    monkeypatch.setenv("FINEFIN_FRESHNESS_SLA_HOURS", "-1")
    with pytest.raises(ValidationError):
        BotSettings()
