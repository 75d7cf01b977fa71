"""What a command produces, independent of Slack: fallback text, Block Kit blocks, the typed result, files."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class FileAttachment:
    """A file to upload with `files_upload_v2` (to the user's DM for command answers)."""

    filename: str
    content: bytes
    title: str


@dataclass
class Answer:
    """`text` is the notification fallback; `data` the semantic layer's typed result (None for help/errors)."""

    text: str
    blocks: list[dict[str, Any]]
    data: Any = None
    files: list[FileAttachment] = field(default_factory=list)
    ok: bool = True
    request_id: str | None = None
