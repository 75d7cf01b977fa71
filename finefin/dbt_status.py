"""Each dbt source's and model's status from the one `dbt build` of a refresh, for Airflow's status tasks
(FINEFIN_DBT_TASKS=build; the tasks themselves are in `finefin.airflow_status`). Nothing here imports Airflow or dbt.

The status graph is read from a dbt manifest: one node per source table (its freshness and its source tests) and one
per model (the model, its unit tests and the data tests attached to it; a test on several models counts for the
model furthest down the lineage), with dbt's edges between them. The refresh's dbt task reports every result it got
(`report`); each status node then reads its verdict (`verdict`): failed, skipped, or passed, with a line per result.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

FAILED = frozenset({"error", "fail", "runtime error"})
BUILT_TYPES = ("model", "seed", "snapshot")
# the dbt project files whose change changes the graph (the cached manifest is keyed on their content)
PROJECT_FILES = ("*.sql", "*.yml", "*.yaml", "*.csv", "*.py")

Verdict = Literal["success", "failed", "skipped"]


@dataclass(frozen=True)
class StatusNode:
    """One status task: `name` is its task id (a model's name, or `raw_<table>` for a source table)."""

    name: str
    kind: Literal["source", "model", "seed", "snapshot"]
    unique_id: str
    upstream: tuple[str, ...]  # names of the status nodes it selects from
    members: tuple[str, ...]  # unique ids whose results make its status: itself first, then its tests


def status_graph(manifest: Mapping[str, Any]) -> list[StatusNode]:
    """The status nodes of a parsed dbt project, upstream before downstream (sorted by depth, then name)."""
    project_nodes: Mapping[str, Any] = manifest.get("nodes", {})
    built = {uid: node for uid, node in project_nodes.items() if node.get("resource_type") in BUILT_TYPES}
    sources: Mapping[str, Any] = manifest.get("sources", {})
    names = {uid: f"raw_{node['name']}" for uid, node in sources.items()}
    names.update({uid: node["name"] for uid, node in built.items()})
    parents = {uid: [p for p in node.get("depends_on", {}).get("nodes", []) if p in names]
               for uid, node in built.items()}
    depth: dict[str, int] = {uid: 0 for uid in sources}

    def depth_of(uid: str) -> int:
        if uid not in depth:
            depth[uid] = 1 + max((depth_of(p) for p in parents.get(uid, [])), default=0)
        return depth[uid]

    members: dict[str, list[str]] = {uid: [uid] for uid in names}
    tests = [*(n for n in project_nodes.values() if n.get("resource_type") == "test"),
             *manifest.get("unit_tests", {}).values()]
    for test in sorted(tests, key=lambda t: t["unique_id"]):
        owner = test.get("attached_node")
        if owner not in names:  # a singular test, a source test or a unit test: its deepest parent owns it
            candidates = [p for p in test.get("depends_on", {}).get("nodes", []) if p in names]
            owner = max(candidates, key=lambda p: (depth_of(p), p), default=None)
        if owner is not None:
            members[owner].append(test["unique_id"])
    nodes = [
        StatusNode(names[uid], "source" if uid in sources else built[uid]["resource_type"], uid,
                   tuple(sorted(names[p] for p in parents.get(uid, []))), tuple(members[uid]))
        for uid in names
    ]
    return sorted(nodes, key=lambda n: (depth_of(n.unique_id), n.name))


def report(results: Iterable[tuple[str, str, str, float]], *, final: bool, error: str | None = None) -> dict[str, Any]:
    """What the dbt task publishes (an XCom) for the status tasks: each node's (unique id, status, message, seconds),
    whether this is the task's last word (it succeeded, or failed with no retry left) and, when it failed, why."""
    return {"final": final, "error": error,
            "results": {uid: [status, message, round(seconds, 3)] for uid, status, message, seconds in results}}


def verdict(node: StatusNode, reported: Mapping[str, Any]) -> tuple[Verdict, list[str]]:
    """The status of one node from the dbt task's report, and the lines its task log shows."""
    results: Mapping[str, list[Any]] = reported.get("results") or {}
    lines: list[str] = []
    failed = False
    for uid in node.members:
        if uid not in results:
            continue
        status, message, seconds = results[uid]
        what = "freshness" if uid == node.unique_id and node.kind == "source" else uid.split(".")[0]
        lines.append(f"{what} {uid.split('.', 2)[-1]}: {status} in {float(seconds):.2f} s"
                     + (f": {message}" if message and status not in {"success", "pass"} else ""))
        failed = failed or status in FAILED
    if node.upstream:
        lines.append(f"selects from: {', '.join(node.upstream)}")
    if failed:
        return "failed", lines
    own = results.get(node.unique_id)
    if node.kind == "source":  # a table with no freshness threshold has no freshness result: its tests decide
        return "success", lines or ["no freshness threshold and no test on this source"]
    if own is None:
        why = reported.get("error")
        return "skipped", [*lines, "not built by this run" + (f": the build stopped: {why}" if why else "")]
    if own[0] == "skipped":
        return "skipped", lines
    return "success", lines


# --------------------------------------------------------------------------------------- the manifest of the graph


def project_fingerprint(project_dir: Path) -> str:
    """A hash of the dbt project's files: the status graph (and its cached manifest) changes only with it."""
    digest = hashlib.sha256()
    files = sorted({p for pattern in PROJECT_FILES for p in project_dir.rglob(pattern)
                    if not {"target", "logs", "dbt_packages"} & set(p.relative_to(project_dir).parts)})
    for path in files:
        digest.update(str(path.relative_to(project_dir)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def cached_manifest(project_dir: Path, cache_dir: Path) -> Path:
    """A `dbt parse` manifest of the project, parsed once per version of its files (not on every DAG parse):
    `<cache_dir>/<fingerprint>/manifest.json`."""
    final = cache_dir / project_fingerprint(project_dir)
    if (final / "manifest.json").is_file():
        return final / "manifest.json"
    target = final.with_name(f"{final.name}.tmp-{os.getpid()}")  # parsed aside, then renamed: parses may race
    manifest = target / "manifest.json"
    dbt = Path(sys.executable).with_name("dbt")
    env = {**os.environ, "FINEFIN_WAREHOUSE": str(target / "unused.duckdb"), "FINEFIN_TARGET": "duckdb"}
    result = subprocess.run(
        [str(dbt if dbt.exists() else "dbt"), "parse", "--project-dir", str(project_dir), "--profiles-dir",
         str(project_dir), "--target-path", str(target), "--log-path", str(target / "logs"), "--quiet"],
        capture_output=True, text=True, timeout=600, cwd=project_dir, env=env, check=False)
    if result.returncode != 0 or not manifest.is_file():
        from finefin.errors import ConfigurationError

        tail = (result.stdout + result.stderr).strip().splitlines()[-3:]
        raise ConfigurationError(f"dbt parse of {project_dir} failed: {' / '.join(tail) or 'no manifest written'}")
    try:
        target.rename(final)
    except OSError:  # another parse got there first: keep its copy
        shutil.rmtree(target, ignore_errors=True)
    return final / "manifest.json"


def load_graph(manifest: Path) -> list[StatusNode]:
    return status_graph(json.loads(manifest.read_text()))
