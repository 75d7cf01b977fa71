"""Published warehouse snapshots: how the refresh and the bot share one DuckDB warehouse without blocking.

DuckDB lets one process write a file, and while it does no other process can open it, not even read-only. So the
refresh (ingest + dbt) writes the *build* file (`FINEFIN_WAREHOUSE`) and, when it has finished, publishes a copy:

    <data_dir>/serving/<load_id>/<build file name>      an immutable snapshot
    <data_dir>/serving/current -> <load_id>             a symlink, swapped atomically (os.replace)

Readers resolve `current` and open that snapshot read-only; a new load id means a new file, so a reader never sees a
half-built warehouse and never holds a lock the writer needs. The snapshot keeps the build file's name because
MetricFlow's SQL names the DuckDB catalog after the file stem. Old snapshots are pruned; a reader still holding one
keeps reading it (POSIX keeps an unlinked file alive while it is open).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb

from semantic_layer.errors import WarehouseUnavailableError

log = logging.getLogger(__name__)

CURRENT = "current"
KEEP_SNAPSHOTS = 3
MANIFEST_NAME = "semantic_manifest.json"


@dataclass(frozen=True)
class Snapshot:
    load_id: str
    warehouse: Path  # the DuckDB file to open read-only
    manifest: Path | None  # semantic_manifest.json published with it (None when not parsed yet)


def serving_dir(data_dir: Path) -> Path:
    return data_dir / "serving"


def publish(build_file: Path, data_dir: Path, manifest: Path | None = None, *, keep: int = KEEP_SNAPSHOTS) -> Snapshot:
    """Copy the finished build file into a new snapshot and point `current` at it.

    The caller must have closed every handle on `build_file` (DuckDB checkpoints on close); we checkpoint once
    more to be sure the file on disk holds everything, then copy it.
    """
    if not build_file.exists():
        raise WarehouseUnavailableError(f"no warehouse to publish at {build_file}")
    with duckdb.connect(str(build_file)) as conn:
        conn.execute("CHECKPOINT")
    root = serving_dir(data_dir)
    root.mkdir(parents=True, exist_ok=True)
    _remove_dead_publishes(root)
    load_id = _new_load_id(root)
    target_dir = root / load_id
    tmp_dir = root / f".{load_id}.tmp"
    shutil.rmtree(tmp_dir, ignore_errors=True)
    tmp_dir.mkdir()
    shutil.copyfile(build_file, tmp_dir / build_file.name)
    if manifest is not None and manifest.exists():
        shutil.copyfile(manifest, tmp_dir / MANIFEST_NAME)
    os.replace(tmp_dir, target_dir)
    link_tmp = root / f".{CURRENT}.{load_id}"
    os.symlink(load_id, link_tmp)
    os.replace(link_tmp, root / CURRENT)  # atomic: readers see the old or the new snapshot, never none
    log.info("published warehouse snapshot %s", load_id)
    _prune(root, keep=keep, current=load_id)
    return current(data_dir, build_file.name)


def current(data_dir: Path, warehouse_name: str) -> Snapshot:
    """The snapshot readers should use now."""
    link = serving_dir(data_dir) / CURRENT
    try:
        load_id = os.readlink(link)
    except FileNotFoundError:
        raise WarehouseUnavailableError("The warehouse has not been published yet: run the refresh first.") from None
    folder = serving_dir(data_dir) / load_id
    manifest = folder / MANIFEST_NAME
    return Snapshot(load_id, folder / warehouse_name, manifest if manifest.exists() else None)


def _new_load_id(root: Path) -> str:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    load_id, n = stamp, 1
    while (root / load_id).exists():
        n += 1
        load_id = f"{stamp}-{n}"
    return load_id


def _remove_dead_publishes(root: Path) -> None:
    """Remove what a publish killed half-way left: `.<load_id>.tmp` copies and `.current.<load_id>` links. Publishes
    run one at a time (the refresh lock), so none of these belongs to a live one."""
    for leftover in root.glob(".*"):
        if leftover.name.endswith(".tmp") and leftover.is_dir() and not leftover.is_symlink():
            log.warning("removing %s left by an interrupted publish", leftover.name)
            shutil.rmtree(leftover, ignore_errors=True)
        elif leftover.name.startswith(f".{CURRENT}.") and leftover.is_symlink():
            leftover.unlink(missing_ok=True)


def _prune(root: Path, *, keep: int, current: str) -> None:
    snapshots = sorted(
        p.name for p in root.iterdir() if p.is_dir() and not p.is_symlink() and not p.name.startswith(".")
    )
    for name in snapshots[:-keep] if keep > 0 else snapshots:
        if name != current:
            shutil.rmtree(root / name, ignore_errors=True)
