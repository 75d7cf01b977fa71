"""`finefin demo` runs end to end (source -> generate -> ingest -> dbt -> publish -> bot answers), and the console
mode answers from what it built."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import psycopg

FINEFIN = str(Path(sys.executable).with_name("finefin"))


def test_demo_end_to_end_then_ask(make_database: Callable[[], str], tmp_path: Path) -> None:
    dsn = make_database()
    env = {**os.environ, "FINEFIN_SOURCE_URL": dsn, "FINEFIN_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}
    env.pop("FINEFIN_WAREHOUSE", None)
    demo = subprocess.run([FINEFIN, "demo", "--customers", "120", "--months", "5"], env=env, capture_output=True,
                          text=True, timeout=900)
    assert demo.returncode == 0, demo.stderr[-3000:]
    out = demo.stdout + demo.stderr
    for step in ("generate data", "ingest", "dbt build", "publish", "bot answers"):
        assert step in out
    assert "Traceback" not in out
    answered = re.search(r"(\d+) requests, (\d+) refused as expected", out)
    assert answered and int(answered.group(1)) >= 5 and answered.group(2) == "2", out[-2000:]
    assert (tmp_path / "data" / "serving" / "current").is_symlink()

    directory = json.loads((tmp_path / "data" / "slack_directory.json").read_text())
    asked = subprocess.run([FINEFIN, "ask", "--as", "UDEMOCUSTOMER", "--json", "balance"], capture_output=True,
                           text=True, timeout=300,
                           env={**env, "FINEFIN_DIRECTORY_FILE": str(tmp_path / "data" / "slack_directory.json")})
    assert asked.returncode == 0, asked.stderr[-2000:]
    answer = json.loads(asked.stdout)
    email = next(entry["email"] for uid, entry in directory.items() if uid == "UDEMOCUSTOMER")
    with psycopg.connect(dsn) as conn:
        (expected,) = conn.execute(
            "SELECT coalesce(sum(t.amount), 0) FROM transactions t JOIN accounts a USING (account_id)"
            " JOIN customers c USING (customer_id) WHERE t.status = 'booked' AND lower(c.email) = lower(%s)",
            (email,)).fetchone()
    assert Decimal(answer["data"]["total"]) == expected
