"""Send an Answer to Slack: ephemeral via response_url, files to the user's DM (never into a channel)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_sdk.errors import SlackApiError, SlackRequestError

from bot.answer import Answer, FileAttachment

log = logging.getLogger(__name__)


def open_dm(client: Any, user_id: str) -> str:
    return client.conversations_open(users=user_id)["channel"]["id"]


def upload_files(client: Any, channel: str, attachments: list[FileAttachment], comment: str | None = None) -> None:
    """One files_upload_v2 call (getUploadURLExternal → POST → completeUploadExternal) for all files."""
    client.files_upload_v2(
        channel=channel,
        initial_comment=comment,
        file_uploads=[{"content": f.content, "filename": f.filename, "title": f.title} for f in attachments],
    )


def deliver(answer: Answer, *, client: Any, respond: Callable[..., Any], user_id: str) -> None:
    """Ephemeral answer first (visible only to the user), then the files in their DM.

    Uses at most two of the five response_url posts. A failed upload is reported to the user, not swallowed.
    """
    respond(text=answer.text, blocks=answer.blocks, response_type="ephemeral", replace_original=False)
    if not answer.files:
        return
    try:
        upload_files(client, open_dm(client, user_id), answer.files, comment=answer.text)
    except (SlackApiError, SlackRequestError, OSError):
        log.exception(
            "request %s: upload of %s to %s failed", answer.request_id, [f.filename for f in answer.files], user_id
        )
        respond(
            text=f"Sorry, I could not send the files to your DMs (reference {answer.request_id}).",
            response_type="ephemeral",
            replace_original=False,
        )
