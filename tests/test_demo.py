"""`finefin demo` runs end to end (source -> generate -> ingest -> dbt -> publish -> bot answers), and the next steps
it prints work when pasted into a shell that has none of the demo's settings exported."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from decimal import Decimal
from pathlib import Path

import psycopg

FINEFIN = str(Path(sys.executable).with_name("finefin"))
END = date(2026, 3, 31)  # the generated history ends here: the demo does not depend on the day the test runs


def _pasted(line: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a printed command as a user pasting it would: a shell, no FINEFIN_* variable exported."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINEFIN_") and k != "COLUMNS"}
    return subprocess.run(["bash", "-c", line], env=env, cwd=cwd, capture_output=True, text=True, timeout=300)


def test_demo_end_to_end_then_the_next_steps_as_pasted(make_database: Callable[[], str], tmp_path: Path) -> None:
    dsn = make_database()
    data = tmp_path / "a data folder whose path is long enough to be cut at eighty columns" / "data"
    env = {**os.environ, "FINEFIN_SOURCE_URL": dsn, "FINEFIN_DATA_DIR": str(data)}
    for name in ("FINEFIN_WAREHOUSE", "FINEFIN_DIRECTORY_FILE", "FINEFIN_ADVISORS", "FINEFIN_DIRECTORS", "COLUMNS"):
        env.pop(name, None)  # no terminal and no COLUMNS: the output must still carry whole paths
    demo = subprocess.run([FINEFIN, "demo", "--customers", "120", "--months", "5", "--end-date", END.isoformat()],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert demo.returncode == 0, demo.stderr[-3000:]
    out = demo.stdout + demo.stderr
    for step in ("generate data", "ingest", "dbt build", "publish", "bot answers"):
        assert step in out
    assert f"2025-11-01 .. {END}" in out
    assert "Traceback" not in out
    answered = re.search(r"(\d+) requests, (\d+) refused as expected", out)
    assert answered and int(answered.group(1)) >= 5 and answered.group(2) == "2", out[-2000:]
    assert (data / "serving" / "current").is_symlink()
    assert f"warehouse: {data / 'warehouse.duckdb'} (published for readers: {data / 'serving'}" in demo.stdout
    assert f"demo users: {data / 'slack_directory.json'} (staff: {data / 'demo_staff.json'}" in demo.stdout

    # the next steps: one command per line, each acting as a demo user, runnable as printed
    assert "Next steps" in demo.stdout
    commands = [line.strip() for line in demo.stdout.splitlines() if " ask --as " in line]
    users = {re.search(r" ask --as (\S+) ", c).group(1) for c in commands}  # type: ignore[union-attr]
    assert users == {"UDEMOCUSTOMER", "UDEMOREDCUSTOMER", "UDEMOADVISOR", "UDEMODIRECTOR"}, commands
    assert any(c.endswith(" ask --as UDEMOADVISOR watchlist") for c in commands)
    with ThreadPoolExecutor(max_workers=3) as pool:
        runs = list(pool.map(lambda c: _pasted(c, tmp_path), commands))
    for command, run in zip(commands, runs, strict=True):
        assert run.returncode == 0 and run.stdout.strip(), (command, run.stdout[-1000:], run.stderr[-2000:])
        assert "error" not in run.stderr.lower(), (command, run.stderr[-2000:])
    by_user = dict(zip(commands, runs, strict=True))
    watchlist = next(r for c, r in by_user.items() if c.endswith("UDEMOADVISOR watchlist"))
    assert watchlist.stdout.startswith("Watchlist 2026-03")
    statement = next(r for c, r in by_user.items() if c.endswith("UDEMOCUSTOMER statement"))
    assert statement.stdout.startswith("Statement 2026-03") and "file: " in statement.stderr

    # the customer's balance, as JSON, against the source
    balance = next(c for c in commands if c.endswith("UDEMOCUSTOMER balance"))
    asked = _pasted(balance.replace(" ask ", " ask --json ", 1), tmp_path)
    assert asked.returncode == 0, asked.stderr[-2000:]
    answer = json.loads(asked.stdout)
    directory = json.loads((data / "slack_directory.json").read_text())
    with psycopg.connect(dsn) as conn:
        (expected,) = conn.execute(
            "SELECT coalesce(sum(t.amount), 0) FROM transactions t JOIN accounts a USING (account_id)"
            " JOIN customers c USING (customer_id) WHERE t.status = 'booked' AND lower(c.email) = lower(%s)",
            (directory["UDEMOCUSTOMER"]["email"],)).fetchone()
    assert Decimal(answer["data"]["total"]) == expected
