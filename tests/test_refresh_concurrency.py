"""A refresh running in another process while the semantic layer answers: no answer fails, and afterwards the
answers come from the new load (new load id, data day moved forward)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from semantic_layer.inputs import CustomerId
from tests.dbt_chain import make_chain

FINEFIN = str(Path(sys.executable).with_name("finefin"))


@pytest.mark.slow
def test_refresh_in_another_process_never_fails_an_answer(make_database: Callable[[], str], tmp_path: Path) -> None:
    chain = make_chain(make_database, tmp_path / "chain", customers=120, months=5)
    chain.build()
    chain.publish()
    sl = chain.semantic_layer()
    as_of_before, _ = sl.reporting_dates()
    load_before = sl.engine.load_id

    env = {**os.environ, "FINEFIN_SOURCE_URL": chain.dsn, "FINEFIN_DATA_DIR": str(chain.data_dir),
           "FINEFIN_WAREHOUSE": str(chain.warehouse), "FINEFIN_INGEST_MODE": "dlt"}
    # the chain's history ends in the past on purpose: its newest rows are "stale" for source freshness
    script = f"{FINEFIN} source simulate-day --days 2 && {FINEFIN} refresh --skip-freshness"
    refresh = subprocess.Popen(["bash", "-c", script], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    answers, errors = 0, []
    deadline = time.monotonic() + 600
    customers = [CustomerId(c) for c in (1, 2, 3, 4, 5)]
    while refresh.poll() is None and time.monotonic() < deadline:
        customer = customers[answers % len(customers)]
        for call in (lambda c=customer: sl.balance(c), sl.monthly_growth, sl.watchlist,
                     lambda c=customer: sl.upcoming(c)):
            try:
                call()
                answers += 1
            except Exception as exc:  # the point of the test: nothing may fail while the refresh runs
                errors.append(repr(exc))
        sl.engine.cache.clear()  # compute every time, don't just replay the cache
    output = refresh.communicate(timeout=60)[0]
    assert refresh.returncode == 0, output[-3000:]
    assert errors == []
    assert answers > 20
    assert sl.engine.load_id != load_before
    as_of_after, _ = sl.reporting_dates()
    assert as_of_after == as_of_before + timedelta(days=2)
    sl.engine.close()
