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
from semantic_layer.api import SemanticLayer

log = logging.getLogger(__name__)


def default_directory_path(settings: BotSettings) -> Path:
    """FINEFIN_DIRECTORY_FILE, else `<FINEFIN_DATA_DIR>/slack_directory.json` (where the demo writes it)."""
    if settings.directory_file is not None:
        return settings.directory_file
    from finefin.config import get_settings

    return get_settings().data_path / "slack_directory.json"


def console_assistant(sl: SemanticLayer, settings: BotSettings, directory: Path | None = None) -> Assistant:
    lookup = DirectoryFileLookup(directory or default_directory_path(settings))
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
