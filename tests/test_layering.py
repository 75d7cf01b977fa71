"""Data flows one way: load (ingestion) -> model (dbt) -> ask (semantic_layer) -> post (bot). No lower package
imports a higher one; what several floors need (settings, errors, wording) lives on the ground floor, finefin.config and
finefin.errors. The CLI, the refresh steps and the DAGs sit on top and may import anything."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GROUND = ("finefin.config", "finefin.embedded_pg", "finefin.errors", "finefin.text")
ALLOWED: dict[str, tuple[str, ...]] = {
    "finefin/config.py": ("finefin.errors",),
    "finefin/embedded_pg.py": ("finefin.errors",),
    "finefin/errors.py": (),
    "finefin/text.py": (),
    "ingestion": ("ingestion", *GROUND),
    "semantic_layer": ("semantic_layer", *GROUND),
    "bot": ("bot", "semantic_layer", *GROUND),
}
PROJECT = ("finefin", "ingestion", "semantic_layer", "bot", "dags", "bench", "tests")


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return {name for name in found if name.split(".")[0] in PROJECT}


def _files(scope: str) -> list[Path]:
    path = ROOT / scope
    return [path] if path.is_file() else sorted(path.rglob("*.py"))


@pytest.mark.parametrize("scope", sorted(ALLOWED))
def test_no_package_imports_a_higher_one(scope: str) -> None:
    allowed = ALLOWED[scope]
    wrong = {
        f"{path.relative_to(ROOT)} imports {name}"
        for path in _files(scope)
        for name in _imports(path)
        if not any(name == ok or name.startswith(ok + ".") for ok in allowed)
    }
    assert not wrong, sorted(wrong)


def test_the_rule_sees_an_upward_import(tmp_path: Path) -> None:
    """The check itself: a module importing a higher floor, even inside a function, is found."""
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from semantic_layer.snowflake_client import connect_kwargs_from_env\n")
    assert _imports(module) == {"semantic_layer.snowflake_client"}
