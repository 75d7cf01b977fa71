"""Block Kit → plain text for the console (`finefin ask`, the demo)."""

from __future__ import annotations

import re
from typing import Any

_EMOJI = {":warning:": "⚠", ":clock3:": "🕒", ":no_entry_sign:": "⛔"}


def _plain(text: str) -> str:
    for code, char in _EMOJI.items():
        text = text.replace(code, char)
    text = re.sub(r"(?<!\w)\*([^*\n]+)\*(?!\w)", r"\1", text)  # *bold*
    text = re.sub(r"(?<!\w)_([^_\n]+)_(?!\w)", r"\1", text)  # _italic_
    text = text.replace("`", "")
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def blocks_to_text(blocks: list[dict[str, Any]]) -> str:
    out: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            title = block["text"]["text"]
            out += [title, "=" * len(title)]
        elif kind == "section":
            out.append(_plain(block["text"]["text"]))
        elif kind == "context":
            out.append(" ".join(_plain(e.get("text", "")) for e in block.get("elements", [])))
        elif kind == "divider":
            out.append("-" * 40)
    return "\n".join(out)
