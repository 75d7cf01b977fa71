"""Refresh and readers never block each other: the writer builds one file, readers use published snapshots."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from semantic_layer import snapshots
from semantic_layer.duckdb_client import ReadOnlyDuckDbClient
from semantic_layer.errors import WarehouseUnavailableError


def _build(path: Path, version: int) -> None:
    with duckdb.connect(str(path)) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS marts")
        conn.execute("CREATE OR REPLACE TABLE marts.t AS SELECT ? AS version, range AS i FROM range(1000)", [version])


def test_nothing_published_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(WarehouseUnavailableError, match="not been published"):
        snapshots.current(tmp_path, "warehouse.duckdb")


def test_publish_points_current_at_a_copy_and_prunes(tmp_path: Path) -> None:
    build = tmp_path / "warehouse.duckdb"
    seen = []
    for version in range(1, 6):
        _build(build, version)
        snap = snapshots.publish(build, tmp_path, keep=2)
        assert snap.warehouse.name == "warehouse.duckdb"  # same stem: MetricFlow's catalog name
        assert snap.warehouse != build
        client = ReadOnlyDuckDbClient(snapshots.current(tmp_path, build.name).warehouse)
        seen.append(client.fetch("SELECT max(version), count(*) FROM marts.t")[1][0])
        client.close()
    assert seen == [(v, 1000) for v in range(1, 6)]
    kept = [p for p in snapshots.serving_dir(tmp_path).iterdir() if p.is_dir() and not p.is_symlink()]
    assert len(kept) == 2


def test_reader_open_while_writer_holds_build_file(tmp_path: Path) -> None:
    build = tmp_path / "warehouse.duckdb"
    _build(build, 1)
    snapshots.publish(build, tmp_path)
    writer = duckdb.connect(str(build))  # the refresh holds the build file open (read-write lock)
    try:
        writer.execute("UPDATE marts.t SET version = 2")
        client = ReadOnlyDuckDbClient(snapshots.current(tmp_path, build.name).warehouse)
        assert client.fetch("SELECT max(version) FROM marts.t")[1] == [(1,)]
        client.close()
    finally:
        writer.close()


def test_refresh_loop_in_another_process_never_fails_a_reader(tmp_path: Path) -> None:
    """A separate process rebuilds and publishes 15 times while this one keeps answering from `current`."""
    build = tmp_path / "warehouse.duckdb"
    _build(build, 0)
    snapshots.publish(build, tmp_path)
    script = textwrap.dedent(f"""
        import duckdb, pathlib
        from semantic_layer import snapshots
        build = pathlib.Path({str(build)!r})
        for version in range(1, 16):
            with duckdb.connect(str(build)) as conn:
                conn.execute("CREATE OR REPLACE TABLE marts.t AS SELECT ? AS version, range AS i FROM range(20000)",
                             [version])
            snapshots.publish(build, build.parent, keep=2)
    """)
    refresh = subprocess.Popen([sys.executable, "-c", script], cwd=Path(__file__).resolve().parents[1])
    answers: list[tuple[int, int]] = []
    deadline = time.monotonic() + 120
    while refresh.poll() is None and time.monotonic() < deadline:
        client = ReadOnlyDuckDbClient(snapshots.current(tmp_path, build.name).warehouse)
        answers.append(client.fetch("SELECT max(version), count(DISTINCT version) FROM marts.t")[1][0])
        client.close()
    assert refresh.wait(timeout=60) == 0
    assert len(answers) > 5
    assert all(distinct == 1 for _, distinct in answers)  # never a half-written table
    versions = [v for v, _ in answers]
    assert versions == sorted(versions)  # readers only move forward
