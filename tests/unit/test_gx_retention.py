"""Retention of the GX site (covidsync.gx_retention): old runs' results and pages go, recent ones stay,
the index is rebuilt without them, and a rerun of the same day removes nothing more."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from covidsync import gx_retention
from covidsync.errors import CovidsyncError
from covidsync.ingest import batch_gate

PROJECT = Path(__file__).resolve().parents[2]

PROFILE = {
    "file_id": 41,
    "dataset": "vaccinations",
    "facility_code": "17001",
    "file_name": "vaccinations-2021-11-02.csv",
    "rows_total": 10,
    "rows_rejected": 0,
    "rejected_share": 0.0,
    "max_rejected_share": 0.2,
    "duplicate_keys": 0,
    "null_keys": 0,
    "value_counts": {"dose_number": {1: 10}},
}


@pytest.fixture
def gx_dir(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "great_expectations"
    shutil.copytree(PROJECT / "great_expectations", root, ignore=shutil.ignore_patterns("uncommitted"))
    monkeypatch.setenv("COVIDSYNC_GX_DIR", str(root))
    return root


def _age(root: Path, key, when: str) -> str:
    """Move a stored run (result and page) to the run time ``when``, as if it had been gated then."""
    run_name, run_time = key.run_id.to_tuple()
    suite = key.expectation_suite_identifier.name
    for top in ("validations", f"data_docs/{batch_gate.DOCS_SITE}/validations"):
        folder = root / "gx" / "uncommitted" / top / suite / run_name
        (folder / run_time).rename(folder / when)
    return run_name


def _gate(file_id: int):
    return batch_gate.run_gate({**PROFILE, "file_id": file_id}, build_docs=True).docs_key


def test_old_runs_go_recent_runs_stay_and_the_index_forgets_them(gx_dir):
    old = _age(gx_dir, _gate(41), "20211001T083000.000000Z")
    edge = _age(gx_dir, _gate(42), "20211101T000000.000000Z")  # exactly the cutoff: kept
    recent = _gate(43).run_id.run_name
    site = gx_dir / "gx" / "uncommitted" / "data_docs" / batch_gate.DOCS_SITE
    assert old in (site / "index.html").read_text()

    done = gx_retention.prune(dt.date(2021, 12, 1), days=30)

    assert done == {"cutoff": "2021-11-01", "runs_removed": 1, "pages_removed": 1}
    index = (site / "index.html").read_text()
    assert old not in index and edge in index and recent in index
    stored = {p.parent.parent.name for p in (gx_dir / "gx" / "uncommitted" / "validations").rglob("*.json")}
    assert stored == {edge, recent}
    assert (
        not list(site.rglob(f"{old}*")) and not (site / "validations" / "vaccinations_batch" / old).exists()
    )
    # the same day again removes nothing more, and leaves the site as it was
    assert gx_retention.prune(dt.date(2021, 12, 1), days=30)["runs_removed"] == 0
    assert edge in (site / "index.html").read_text()


def test_zero_days_keeps_everything(gx_dir):
    _age(gx_dir, _gate(44), "20200101T000000.000000Z")
    assert gx_retention.prune(dt.date(2026, 1, 1), days=0) == {
        "cutoff": None,
        "runs_removed": 0,
        "pages_removed": 0,
    }
    assert len(list((gx_dir / "gx" / "uncommitted" / "validations").rglob("*.json"))) == 1


def test_a_project_with_no_results_yet(gx_dir):
    assert gx_retention.prune(dt.date(2021, 12, 1), days=30)["runs_removed"] == 0


@pytest.mark.parametrize("value", ["-1", "thirty"])
def test_a_bad_retention_setting_is_one_clear_error(monkeypatch, value):
    monkeypatch.setenv("COVIDSYNC_GX_RETENTION_DAYS", value)
    with pytest.raises(CovidsyncError, match="COVIDSYNC_GX_RETENTION_DAYS must be a whole number"):
        gx_retention.retention_days()


def test_the_cli(gx_dir):
    _age(gx_dir, _gate(45), "20211001T083000.000000Z")
    env = {**os.environ, "COVIDSYNC_GX_DIR": str(gx_dir)}
    cli = [sys.executable, "-m", "covidsync", "docs", "prune", "--date", "2021-12-01"]
    bad = subprocess.run([*cli, "--keep-days", "-1"], env=env, capture_output=True, text=True, check=False)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines()[-1].endswith("0 keeps everything)")
    ran = subprocess.run(cli, env=env, capture_output=True, text=True, check=False)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "removed 1 validation run(s) and 1 page(s) from before 2021-11-01"
