"""Alembic migrations of the bot's state database (shipped as package data; run by bot.state.migrate)."""
