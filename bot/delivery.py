"""Send an Answer to Slack: ephemeral via response_url, files to the user's DM (never into a channel).

Values from data and users were escaped where the answer was built (`bot.escape.slack_text` in `bot.blocks` and
`bot.assistant`). This is the Slack boundary: the top-level `text` fallback and the files' `initial_comment` go
through `slack_text(…, markup=True)` once more (the bot's own formatting kept, `&`/`<`/`>` and the length enforced;
escaping is idempotent), and file titles through `slack_text`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_sdk.errors import SlackApiError, SlackRequestError

from bot.answer import Answer, FileAttachment
from bot.escape import slack_text

log = logging.getLogger(__name__)
MAX_FALLBACK_CHARS = 3000  # Slack accepts far more; a fallback (notification, screen reader) needs no more
MAX_TITLE_CHARS = 250


def fallback_text(text: str | None) -> str | None:
    """A top-level `text` / `initial_comment` as Slack may receive it: escaped, bounded, lines and markup kept."""
    return None if text is None else slack_text(text, MAX_FALLBACK_CHARS, multiline=True, markup=True)


def open_dm(client: Any, user_id: str) -> str:
    return client.conversations_open(users=user_id)["channel"]["id"]


def upload_files(client: Any, channel: str, attachments: list[FileAttachment], comment: str | None = None) -> None:
    """One files_upload_v2 call (getUploadURLExternal → POST → completeUploadExternal) for all files."""
    client.files_upload_v2(
        channel=channel,
        initial_comment=fallback_text(comment),
        file_uploads=[
            {"content": f.content, "filename": f.filename, "title": slack_text(f.title, MAX_TITLE_CHARS)}
            for f in attachments
        ],
    )


def deliver(answer: Answer, *, client: Any, respond: Callable[..., Any], user_id: str) -> None:
    """Ephemeral answer first (visible only to the user), then the files in their DM.

    Uses at most two of the five response_url posts. A failed upload is reported to the user, not swallowed.
    """
    respond(text=fallback_text(answer.text), blocks=answer.blocks, response_type="ephemeral", replace_original=False)
    send_files(answer, client=client, respond=respond, user_id=user_id)


def send_files(answer: Answer, *, client: Any, respond: Callable[..., Any], user_id: str) -> None:
    """The answer's files to the user's DM (one files_upload_v2 call); a failure is told to the user."""
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


def deliver_click(answer: Answer, *, client: Any, respond: Callable[..., Any], user_id: str,
                  channel_id: str | None) -> bool:
    """The answer to a button click (`Answer.delivery`): in place of the message holding the button ("replace"), as a
    new ephemeral message ("new"; files to the DM either way), or posted to the channel the click came from
    ("channel": a staff member's share, then a short ephemeral confirmation). A refusal is always a new ephemeral
    message, so the answer the user clicked on stays. True when the answer reached Slack."""
    if answer.delivery == "channel" and answer.ok:
        if not channel_id:
            respond(text="Sorry, I could not tell which channel to share to.", response_type="ephemeral",
                    replace_original=False)
            return False
        try:
            client.chat_postMessage(channel=channel_id, text=fallback_text(answer.text), blocks=answer.blocks,
                                    unfurl_links=False, unfurl_media=False)
        except SlackApiError:
            log.exception("request %s: share to %s failed", answer.request_id, channel_id)
            respond(text="Sorry, I could not post in this channel (is the bot a member of it?).",
                    response_type="ephemeral", replace_original=False)
            return False
        respond(text="Shared to the channel.", response_type="ephemeral", replace_original=False)
        return True
    if answer.delivery == "replace" and answer.ok:
        respond(text=fallback_text(answer.text), blocks=answer.blocks, replace_original=True)
        send_files(answer, client=client, respond=respond, user_id=user_id)
        return True
    deliver(answer, client=client, respond=respond, user_id=user_id)
    return True

