"""semantic_layer: the governed metrics, asked through typed Python functions (MetricFlow in-process)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from semantic_layer.service import MetricFlowSemanticLayer

_instance: MetricFlowSemanticLayer | None = None
_lock = threading.Lock()


def get_semantic_layer() -> MetricFlowSemanticLayer:
    """The process's one warm semantic layer over the configured warehouse (built lazily, then reused)."""
    global _instance
    if _instance is None:
        with _lock:
            if _instance is None:
                from finefin.config import default_target_path, get_settings
                from semantic_layer.engine import DuckDbSnapshotEngine
                from semantic_layer.service import MetricFlowSemanticLayer

                settings = get_settings()
                if settings.target == "snowflake":
                    from semantic_layer.engine import SemanticEngine
                    from semantic_layer.snowflake_client import SnowflakeWarehouse, connect_kwargs_from_env

                    manifest = default_target_path("snowflake") / "semantic_manifest.json"
                    engine = SemanticEngine(SnowflakeWarehouse(connect_kwargs_from_env(), manifest))
                else:
                    engine = DuckDbSnapshotEngine(settings.data_path, settings.warehouse_path.name)
                _instance = MetricFlowSemanticLayer(engine)
    return _instance


def reset_semantic_layer() -> None:
    """Drop the process's instance (tests, or after a configuration change)."""
    global _instance
    with _lock:
        if _instance is not None:
            _instance.engine.close()
        _instance = None
