"""The semantic models, metrics and saved queries validate: with MetricFlow's own CLI and in-process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from finefin.config import DBT_PROJECT_DIR
from finefin.transform import run_dbt


def test_mf_validate_configs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mf = Path(sys.executable).with_name("mf")
    env = {**os.environ, "DBT_PROFILES_DIR": str(DBT_PROJECT_DIR), "FINEFIN_TARGET": "duckdb",
           "FINEFIN_WAREHOUSE": str(tmp_path / "warehouse.duckdb")}
    # `mf` reads dbt/target/semantic_manifest.json: parse the project there first (on a fresh clone no other test
    # may have yet)
    monkeypatch.setenv("FINEFIN_WAREHOUSE", env["FINEFIN_WAREHOUSE"])
    assert run_dbt(["parse"], target="duckdb").success
    proc = subprocess.run([str(mf), "validate-configs", "--skip-dw"], cwd=DBT_PROJECT_DIR, env=env,
                          capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "Successfully validated the semantics of built manifest (ERRORS: 0" in out


def test_semantic_manifest_has_no_issues(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from metricflow_semantic_interfaces.validations.semantic_manifest_validator import SemanticManifestValidator
    from metricflow_semantics.model.dbt_manifest_parser import parse_manifest_from_dbt_generated_manifest

    monkeypatch.setenv("FINEFIN_WAREHOUSE", str(tmp_path / "warehouse.duckdb"))
    assert run_dbt(["parse"], target="duckdb", target_path=tmp_path / "target").success
    manifest = parse_manifest_from_dbt_generated_manifest(
        manifest_json_string=(tmp_path / "target" / "semantic_manifest.json").read_text())
    results = SemanticManifestValidator().validate_semantic_manifest(manifest)
    assert [i.message for i in results.errors] == []
    assert [i.message for i in results.warnings] == []
    names = {m.name for m in manifest.metrics}
    assert {"revenue", "transaction_volume", "transaction_count", "new_customers", "active_customers", "customers",
            "tier_customers", "balance", "customers_in_red_streak", "withdrawals", "loans_outstanding",
            "investments_held", "revenue_mom_growth", "transaction_volume_mom_growth",
            "new_customers_mom_growth"} <= names
    assert all(m.description and m.label for m in manifest.metrics)
