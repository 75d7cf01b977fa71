"""What a command produces, independent of Slack: fallback text, Block Kit blocks, the typed result, files."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Outcome = Literal["answered", "clarified", "refused", "error"]
# How an answer to a button click reaches Slack: a new ephemeral message (and files to the DM), in place of the
# message holding the button (a view change), or posted to the channel (a staff member's "share to channel").
Delivery = Literal["new", "replace", "channel"]


@dataclass(frozen=True)
class FileAttachment:
    """A file to upload with `files_upload_v2` (to the user's DM for command answers)."""

    filename: str
    content: bytes
    title: str


@dataclass
class Answer:
    """`text` is the notification fallback; `data` the semantic layer's typed result (None for help/errors);
    `outcome`, `roles`, `customer_id` and `customer_read` are what the audit log records about the request."""

    text: str
    blocks: list[dict[str, Any]]
    data: Any = None
    files: list[FileAttachment] = field(default_factory=list)
    ok: bool = True
    request_id: str | None = None
    delivery: Delivery = "new"
    # facts for the audit log, set by the assistant (an answer made elsewhere leaves them unset)
    outcome: Outcome | None = None
    roles: tuple[str, ...] = ()  # the user's resolved roles
    customer_id: int | None = None  # the user's own customer id, when they are a customer
    customer_read: int | None = None  # whose data the request read (or tried to, once access was granted)
