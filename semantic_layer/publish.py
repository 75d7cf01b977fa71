"""The last step of a refresh: publish the freshly built warehouse to readers (and so invalidate their caches)."""

from __future__ import annotations

from pathlib import Path

from finefin.config import DBT_PROJECT_DIR, Settings
from semantic_layer import snapshots


def semantic_manifest_path(target_path: Path | None = None) -> Path:
    """Where `dbt parse`/`dbt build` on the DuckDB target writes the semantic manifest."""
    return (target_path or DBT_PROJECT_DIR / "target") / "semantic_manifest.json"


def publish_warehouse(settings: Settings, manifest: Path | None = None) -> snapshots.Snapshot:
    """Snapshot the build file for readers. Engines see the new load id on their next call and drop their caches.

    Only the embedded DuckDB warehouse needs this; on Snowflake readers query the live tables.
    """
    return snapshots.publish(settings.warehouse_path, settings.data_path, manifest or semantic_manifest_path())
