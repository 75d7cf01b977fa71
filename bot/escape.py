"""The one escaping function for every string from data or users that reaches Slack.

Slack parses message text (mrkdwn sections and context, top-level `text` fallbacks, file comments) for control
sequences. A customer name such as `Camille <!channel> & <https://evil.example/login|Reset> *Lefèvre*` would
otherwise ping a channel, render a phishing link and bold part of a line. `slack_text` makes such text inert:

- `&`, `<`, `>` become `&amp;`, `&lt;`, `&gt;` (Slack's own rule), so no `<!…>`, `<@…>`, `<#…>` or `<http…|…>`
  form can survive, and a leading `>` cannot start a block quote. An `&amp;`, `&lt;` or `&gt;` already in the text
  is kept, which makes the function idempotent: the Slack boundary (delivery, scheduled posts) may apply it again to
  a fallback text whose values were escaped earlier. Slack decodes those entities only for display, after parsing,
  so data holding a literal `&lt;!channel&gt;` shows `<!channel>` as text and pings nobody.
- The emphasis markers `*`, `_`, `~` are replaced by their full-width look-alikes (＊ ＿ ～) wherever they could open
  or close emphasis, i.e. unless they sit between two letters or digits (`new_customers`, `2*3`): Slack only
  formats a marker at a word boundary, so an in-word marker is inert and stays as typed, which keeps metric names and
  codes copyable. Why look-alikes rather than a zero-width joiner beside the marker: Slack documents no escape for
  these characters, a zero-width character is invisible but still copied into what the reader pastes, and the marker
  would still be in the text (a later concatenation could pair it). A look-alike reads the same, copies as what it
  shows, and cannot pair with anything.
- The backtick (code spans) always becomes its full-width look-alike ｀.
- Control characters become spaces (newlines and tabs too, unless `multiline=True`), and the Unicode bidirectional
  overrides/isolates are removed, so data cannot re-order what a reader sees.
- The result is at most `limit` characters (an ellipsis marks a cut); a cut never splits an `&…;` entity.

Use it on the value, not on the bot's own template around it: `f"*{slack_text(name)}* (#{cid})"`. At the Slack
boundary (`bot.delivery`, `bot.scheduled`) a whole fallback text, whose values were escaped where it was built, goes
through `slack_text(text, markup=True)`: the bot's own `*bold*` and `code` stay, while `&`, `<`, `>`, control
characters and the length bound are enforced once more (e.g. a `<customer>` in a usage line would otherwise be read
as a link).
"""

from __future__ import annotations

import re
import unicodedata

DEFAULT_LIMIT = 500
ELLIPSIS = "…"

_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_LOOKALIKE = {"*": "\uff0a", "_": "\uff3f", "~": "\uff5e"}
_BACKTICK = "\uff40"
# Bidi embeddings/overrides (U+202A-E) and isolates (U+2066-9): they can make "1,000" read as "000,1".
_BIDI = dict.fromkeys([*range(0x202A, 0x202F), *range(0x2066, 0x206A)])
_MARKER = re.compile(r"[*_~]")
_SPECIAL = re.compile(r"&(?!(?:amp|lt|gt);)|<|>")


def _inert_marker(match: re.Match[str]) -> str:
    text, at = match.string, match.start()
    before = text[at - 1] if at > 0 else ""
    after = text[at + 1] if at + 1 < len(text) else ""
    if before.isalnum() and after.isalnum():
        return match.group(0)  # in-word: Slack never formats it
    return _LOOKALIKE[match.group(0)]


def _clean_controls(text: str, multiline: bool) -> str:
    keep = "\n\t" if multiline else ""
    return "".join(
        ch if ch in keep or unicodedata.category(ch) != "Cc" else " " for ch in text.translate(_BIDI)
    )


def _cut(escaped: str, limit: int) -> str:
    if len(escaped) <= limit:
        return escaped
    cut = escaped[: max(limit - 1, 0)]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:  # never leave half an entity such as `&am`
        cut = cut[:amp]
    return cut + ELLIPSIS


def slack_text(value: object, limit: int = DEFAULT_LIMIT, *, multiline: bool = False, markup: bool = False) -> str:
    """`value` as inert Slack text: no mention, link, emphasis or code from it; at most `limit` characters.

    `markup=True` is for a text the bot composed itself around values already escaped: its emphasis and code
    markers are kept; everything else is done as for a value.
    """
    text = "" if value is None else str(value)
    text = _clean_controls(text, multiline)
    if not markup:
        text = _MARKER.sub(_inert_marker, text)
        text = text.replace("`", _BACKTICK)
    text = _SPECIAL.sub(lambda m: _ENTITIES[m.group(0)[0]], text)
    return _cut(text, limit)
