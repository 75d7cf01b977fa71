"""What a command raises for the assistant to turn into a polite message (bot.assistant re-exports both)."""

from __future__ import annotations

from finefin.errors import FinefinError


class BotUsageError(FinefinError):
    """Command text the bot does not understand; the message says how to write it."""


class AccessDenied(FinefinError):
    """The user's roles do not allow the command; the message is polite and reveals no data."""
