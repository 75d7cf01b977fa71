"""Console mode: the same Assistant as in Slack, with the local user directory instead of users.info."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from bot.answer import Answer
from bot.assistant import Assistant
from bot.identity import DirectoryFileLookup, IdentityResolver
from bot.serialize import to_jsonable
from bot.settings import BotSettings
from finefin.errors import ConfigurationError
from semantic_layer.api import SemanticLayer

log = logging.getLogger(__name__)

DEMO_STAFF_FILE = "demo_staff.json"


def default_directory_path(settings: BotSettings) -> Path:
    """FINEFIN_DIRECTORY_FILE, else `<FINEFIN_DATA_DIR>/slack_directory.json` (where the demo writes it)."""
    if settings.directory_file is not None:
        return settings.directory_file
    from finefin.config import get_settings

    return get_settings().data_path / "slack_directory.json"


def demo_staff_path(directory: Path) -> Path:
    """`demo_staff.json` beside the user directory: the staff `finefin demo` wrote (its advisor and director)."""
    return directory.with_name(DEMO_STAFF_FILE)


def with_demo_staff(settings: BotSettings, directory: Path) -> BotSettings:
    """The settings plus the staff listed in the demo staff file beside `directory`, if there is one.

    Console mode only (`finefin ask`, the demo): there the local directory file stands in for Slack, and this file
    for FINEFIN_ADVISORS / FINEFIN_DIRECTORS, so the demo's advisor and director work without exporting anything.
    The Slack modes (HTTP, Socket Mode) never read it: staff there come from the environment or user groups only.
    """
    path = demo_staff_path(directory)
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return settings
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"Demo staff file {path} is not valid JSON: {exc.msg}.") from None
    staff = {role: raw.get(role) if isinstance(raw, dict) else None for role in ("advisors", "directors")}
    if not all(isinstance(ids, list) and all(isinstance(i, str) for i in ids) for ids in staff.values()):
        raise ConfigurationError(f'Demo staff file {path} must be {{"advisors": [user IDs], "directors": [user IDs]}}.')
    log.info("console mode: staff from %s added to the configured ones", path)
    return settings.model_copy(update={role: sorted({*getattr(settings, role), *ids}) for role, ids in staff.items()})


def write_demo_staff(directory: Path, advisors: list[str], directors: list[str]) -> Path:
    path = demo_staff_path(directory)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"advisors": advisors, "directors": directors}, indent=2) + "\n")
    return path


def console_assistant(sl: SemanticLayer, settings: BotSettings, directory: Path | None = None) -> Assistant:
    """The Assistant of console mode: users from the local directory file, staff from the configuration plus the
    demo staff file beside the directory (`with_demo_staff`)."""
    directory = directory or default_directory_path(settings)
    lookup = DirectoryFileLookup(directory)
    settings = with_demo_staff(settings, directory)
    return Assistant(sl, settings, IdentityResolver(lookup, sl, settings))


def answer_json(answer: Answer) -> dict[str, Any]:
    """`{"text", "blocks", "data"}`: data is the typed result, dataclasses as objects, Decimals as strings."""
    return {"text": answer.text, "blocks": answer.blocks, "data": to_jsonable(answer.data)}


def dumps(answer: Answer) -> str:
    return json.dumps(answer_json(answer), indent=2, ensure_ascii=False)


def save_files(answer: Answer, out_dir: Path) -> list[Path]:
    """Write the answer's attachments (what Slack would get by files_upload_v2) to a folder."""
    if not answer.files:
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for attachment in answer.files:
        path = out_dir / attachment.filename
        path.write_bytes(attachment.content)
        paths.append(path)
    return paths
