"""What each process of the two-process test runs: the bot's web process (a uvicorn factory over the in-memory
semantic layer double; settings and the state database from the environment, as `finefin bot http`), or one
scheduled watchlist post (`python -m tests.two_process_bot post START_AT`, printing its report as JSON)."""

from __future__ import annotations

import json
import sys
import time
from datetime import date
from typing import Any


def create_app() -> Any:
    """`uvicorn --factory tests.two_process_bot:create_app`: bot.server's app, with the double for the warehouse."""
    from bot.app import build_app
    from bot.server import asgi_app
    from bot.settings import get_bot_settings
    from tests.bot_support import build_double

    return asgi_app(build_app(build_double(), get_bot_settings()))


def post(start_at: float) -> dict[str, list[str]]:
    from bot.app import make_client
    from bot.scheduled import open_post_ledger, post_advisor_watchlist
    from bot.settings import get_bot_settings
    from tests.bot_support import build_double

    settings = get_bot_settings()
    sl, client, ledger = build_double(), make_client(settings), open_post_ledger()
    time.sleep(max(0.0, start_at - time.time()))  # both processes post at the same moment
    report = post_advisor_watchlist(sl, client, settings, ledger=ledger, run_date=date(2026, 11, 24))
    return {"posted": report.posted, "skipped": report.skipped, "failed": report.failed}


if __name__ == "__main__":
    if sys.argv[1:2] == ["post"]:
        print(json.dumps(post(float(sys.argv[2]))))
