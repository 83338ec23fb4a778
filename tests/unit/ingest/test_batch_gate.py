"""The batch gate: GX validates a per-batch profile (never rows) with the committed suites."""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from covidsync.domain.vaccines import PRODUCTS
from covidsync.ingest import batch_gate

PROJECT = Path(__file__).resolve().parents[3]
GX_DIR = PROJECT / "great_expectations"

VACCINATIONS = {
    "file_id": 17,
    "dataset": "vaccinations",
    "facility_code": "17001",
    "rows_total": 1000,
    "rows_rejected": 12,
    "rejected_share": 0.012,
    "max_rejected_share": 0.2,
    "duplicate_keys": 0,
    "null_keys": 0,
    "value_counts": {
        "vaccine_code": {"EU/1/21/1529": 600, "BBIBP-CorV": 388},
        "dose_number": {1: 500, 2: 400, 3: 88},
        "gender": {"male": 480, "female": 508},
    },
    "history": {"days": 12, "rows_mean": 950.0, "rows_std": 80.0},
}
TEST_RESULTS = {
    "file_id": 18,
    "dataset": "test_results",
    "facility_code": "17001",
    "rows_total": 400,
    "rows_rejected": 0,
    "rejected_share": 0.0,
    "max_rejected_share": 0.2,
    "duplicate_keys": 0,
    "null_keys": 0,
    "value_counts": {
        "test_type": {"RT-PCR": 300, "antigen": 100},
        "result": {"negative": 385, "positive": 12, "invalid": 3},
        "pooled": {True: 150, False: 250},
        "gender": {"male": 200, "female": 200},
    },
    "history": {
        "days": 20,
        "rows_mean": 380.0,
        "rows_std": 40.0,
        "positivity": 0.03,
        "positivity_mean": 0.025,
        "positivity_std": 0.01,
    },
}


def profile(base: dict, **changes) -> dict:
    result = copy.deepcopy(base)
    for key, value in changes.items():
        if key in ("value_counts", "history") and value is not None:
            result[key].update(value)
        else:
            result[key] = value
    return result


def _committed_files(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "uncommitted" not in p.parts
    }


@pytest.fixture(scope="session")
def gx_copy(tmp_path_factory) -> Path:
    """A copy of the committed GX project, so nothing here writes into the checkout."""
    root = tmp_path_factory.mktemp("gx") / "great_expectations"
    shutil.copytree(GX_DIR, root, ignore=shutil.ignore_patterns("uncommitted"))
    return root


@pytest.fixture(autouse=True)
def gx_dir(gx_copy, monkeypatch) -> Path:
    monkeypatch.setenv("COVIDSYNC_GX_DIR", str(gx_copy))
    return gx_copy


# --- the committed suites ---------------------------------------------------------------------------------


def _suite(name: str) -> dict:
    return json.loads((GX_DIR / "gx" / "expectations" / f"{name}.json").read_text())


def _by_column(name: str) -> dict[str, dict]:
    return {e["kwargs"]["column"]: e for e in _suite(name)["expectations"]}


def test_importing_the_gate_does_not_import_gx():
    """DAG files import covidsync modules: GX (seconds to import) loads on the first gate only."""
    code = (
        "import sys, covidsync.ingest.batch_gate; assert 'great_expectations' not in sys.modules, 'imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_project_dir_default_and_override(monkeypatch, tmp_path):
    monkeypatch.delenv("COVIDSYNC_GX_DIR")
    monkeypatch.setenv("COVIDSYNC_HOME", str(tmp_path))
    assert batch_gate.project_dir() == tmp_path / "great_expectations"
    monkeypatch.setenv("COVIDSYNC_GX_DIR", str(tmp_path / "elsewhere"))
    assert batch_gate.project_dir() == tmp_path / "elsewhere"


def test_committed_suites_follow_the_contract():
    vaccinations = _by_column("vaccinations_batch")
    assert sorted(vaccinations["vaccine_code"]["kwargs"]["value_set"]) == sorted(PRODUCTS)
    assert vaccinations["dose_number"]["kwargs"]["value_set"] == ["1", "2", "3", "4"]
    tests = _by_column("test_results_batch")
    assert sorted(tests["test_type"]["kwargs"]["value_set"]) == ["RT-PCR", "antigen"]
    assert sorted(tests["result"]["kwargs"]["value_set"]) == ["invalid", "negative", "positive"]
    assert sorted(tests["pooled"]["kwargs"]["value_set"]) == ["false", "true"]
    for suite, columns in (
        (vaccinations, batch_gate.CANONICAL_COLUMNS["vaccinations"]),
        (tests, batch_gate.CANONICAL_COLUMNS["test_results"]),
    ):
        assert set(columns) < set(suite)
        warnings = {c for c, e in suite.items() if e["severity"] == "warning"}
        assert warnings == {"rows_total_vs_history", "positivity_vs_history"} & set(suite)
        assert suite["rejected_share"]["kwargs"]["max_value"] == {"$PARAMETER": "max_rejected_share"}


def test_ensure_project_is_idempotent(gx_copy):
    before = _committed_files(gx_copy)
    batch_gate.ensure_project(gx_copy)
    assert _committed_files(gx_copy) == before


# --- good and bad profiles ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("base", "evaluated"), [(VACCINATIONS, 7), (TEST_RESULTS, 9)])
def test_good_profile_passes(base, evaluated):
    result = batch_gate.run_gate(base)
    assert result.success, result.failed
    assert (result.failed, result.warnings) == ([], [])
    assert result.evaluated == evaluated == result.results["evaluated"]


@pytest.mark.parametrize(("share", "success"), [(0.21, False), (0.2, True), (0.19, True)])
def test_rejected_share_limit_is_strict(share, success):
    result = batch_gate.run_gate(profile(VACCINATIONS, rejected_share=share, rows_rejected=int(share * 1000)))
    assert result.success is success
    if not success:
        assert result.failed == ["rejected_share 0.21 > 0.20 (210 of 1000 rows rejected)"]


def test_limit_comes_from_the_profile():
    assert not batch_gate.run_gate(
        profile(VACCINATIONS, rejected_share=0.06, max_rejected_share=0.05)
    ).success


@pytest.mark.parametrize("key", ["duplicate_keys", "null_keys"])
def test_keys_must_be_clean(key):
    result = batch_gate.run_gate(profile(TEST_RESULTS, **{key: 1}))
    assert not result.success
    assert result.failed == [f"{key} 1 > 0"]


@pytest.mark.parametrize(
    ("base", "column", "value"),
    [
        (VACCINATIONS, "vaccine_code", "Covaxin"),
        (VACCINATIONS, "dose_number", 5),
        (VACCINATIONS, "gender", "other"),
        (TEST_RESULTS, "test_type", "PCR"),
        (TEST_RESULTS, "result", "maybe"),
        (TEST_RESULTS, "pooled", "yes"),
    ],
)
def test_unknown_canonical_value_fails(base, column, value):
    counts = {**base["value_counts"][column], value: 7}
    result = batch_gate.run_gate(profile(base, value_counts={column: counts}))
    assert not result.success
    assert result.failed == [f"{column}: value(s) outside the allowed set: '{value}' (7 rows)"]
    entry = next(e for e in result.results["expectations"] if e["column"] == column)
    assert entry["observed"][str(value)] == 7


def test_values_as_jsonb_keys_pass():
    """A profile built by jsonb_object_agg has text keys: "2" and "true" are the same values."""
    counts = {"dose_number": {"1": 10, "2": 3}}
    assert batch_gate.run_gate(profile(VACCINATIONS, value_counts=counts)).success
    assert batch_gate.run_gate(
        profile(TEST_RESULTS, value_counts={"pooled": {"true": 1, "false": 2}})
    ).success


def test_empty_value_counts_and_missing_values_are_not_checked():
    assert batch_gate.run_gate(profile(VACCINATIONS, value_counts={})).success
    assert batch_gate.run_gate(profile(TEST_RESULTS, value_counts={"pooled": {None: 40, True: 1}})).success


@pytest.mark.parametrize(
    "bad",
    [
        {"dataset": "checkins"},
        {"duplicate_keys": None},
        {"rejected_share": "high"},
        {"value_counts": {"citizen_id": {"001": 1}}},
        {"value_counts": {"gender": ["male"]}},
    ],
)
def test_malformed_profile_is_an_error(bad):
    with pytest.raises(ValueError):
        batch_gate.run_gate(profile(VACCINATIONS, **bad))


# --- history (warnings) -------------------------------------------------------------------------------------


def test_row_count_far_from_history_warns_but_passes():
    result = batch_gate.run_gate(profile(VACCINATIONS, rows_total=4750))
    assert result.success
    assert result.warnings == ["rows_total 4750 outside 710–1190 (history: 12 days, mean 950, std 80)"]


def test_short_history_is_skipped():
    result = batch_gate.run_gate(profile(VACCINATIONS, rows_total=4750, history={"days": 6}))
    assert (result.success, result.warnings) == (True, [])
    entry = next(e for e in result.results["expectations"] if e["column"] == "rows_total_vs_history")
    assert entry["success"] and "fewer than 7" in entry["skipped"]
    assert batch_gate.run_gate(profile(VACCINATIONS, history={"days": 0, "rows_mean": None})).warnings == []
    assert batch_gate.run_gate(profile(VACCINATIONS, history=None)).warnings == []


@pytest.mark.parametrize(("rows", "warns"), [(1400, False), (1450, False), (1451, True), (460, True)])
def test_zero_std_falls_back_to_half_the_mean(rows, warns):
    result = batch_gate.run_gate(
        profile(VACCINATIONS, rows_total=rows, history={"rows_mean": 967.0, "rows_std": 0})
    )
    assert bool(result.warnings) is warns
    assert result.success


def test_positivity_jump_warns():
    result = batch_gate.run_gate(profile(TEST_RESULTS, history={"positivity": 0.2}))
    assert result.success
    assert result.warnings == ["positivity 0.20 outside 0–0.055 (history: 20 days, mean 0.025, std 0.01)"]


def test_unknown_positivity_is_skipped():
    history = {"positivity": None, "positivity_std": None}
    assert batch_gate.run_gate(profile(TEST_RESULTS, history=history)).warnings == []


def test_history_bounds():
    assert batch_gate.history_bounds(100, 10, 7) == (70, 130)
    assert batch_gate.history_bounds(100, 0, 28) == (50, 150)
    assert batch_gate.history_bounds(100, None, 28) == (50, 150)
    assert batch_gate.history_bounds(100, 10, 6) is None
    assert batch_gate.history_bounds(None, 10, 20) is None
    assert batch_gate.history_bounds(0.01, 0.02, 10) == (0, pytest.approx(0.07))


# --- results ------------------------------------------------------------------------------------------------


def _keys(value) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


def test_results_are_json_without_rows():
    bad = profile(
        TEST_RESULTS, null_keys=2, value_counts={"result": {"maybe": 1}}, history={"positivity": 0.5}
    )
    result = batch_gate.run_gate(bad)
    assert json.loads(json.dumps(result.results)) == result.results
    assert not _keys(result.results) & (
        batch_gate._ROW_KEYS | {"unexpected_index_list", "unexpected_rows", "rows"}
    )
    assert result.results["failed"] == result.failed and result.results["warnings"] == result.warnings
    entries = result.results["expectations"]
    assert len(entries) == result.evaluated
    assert {"type", "column", "kwargs", "severity", "success", "observed"} <= set(entries[0])
    assert all("batch_id" not in e["kwargs"] for e in entries)


def test_docs_are_built_in_the_project_copy(gx_dir):
    before = _committed_files(gx_dir)
    result = batch_gate.run_gate(profile(VACCINATIONS, duplicate_keys=3), build_docs=True)
    assert result.failed == ["duplicate_keys 3 > 0"]
    index = batch_gate.build_data_docs()
    assert index == gx_dir / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"
    assert index.is_file() and "vaccinations_batch" in index.read_text()
    pages = list((index.parent / "validations" / "vaccinations_batch").rglob("*.html"))
    assert any("-file17-" in str(p) and "/vaccinations-" in str(p) for p in pages)
    assert _committed_files(gx_dir) == before


@pytest.mark.integration
def test_store_result(warehouse_url):
    import psycopg2

    result = batch_gate.run_gate(profile(VACCINATIONS, null_keys=1, rows_total=4750))
    conn = psycopg2.connect(warehouse_url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(
                "insert into ops.landing_file (sha256, relative_path, original_name, size_bytes, received_at)"
                " values (%s, 'a/b.csv', 'b.csv', 10, now()) returning file_id",
                ("a" * 64,),
            )
            landing_id = cur.fetchone()[0]
            validation_id = batch_gate.store_result(conn, landing_id, "vaccinations_batch", result)
            assert batch_gate.store_result(conn, None, "vaccinations_batch", result) > validation_id
        with conn.cursor() as cur:
            cur.execute(
                "select file_id, suite, success, evaluated, failed, results"
                " from ops.validation_result where validation_id = %s",
                (validation_id,),
            )
            row = cur.fetchone()
    finally:
        conn.close()
    file_id, suite, success, evaluated, failed, results = row
    assert (file_id, suite, success, evaluated, failed) == (landing_id, "vaccinations_batch", False, 7, 1)
    assert results == result.results
    assert results["failed"] == ["null_keys 1 > 0"] and len(results["warnings"]) == 1


def test_the_runs_index_lists_every_page_without_rendering_the_stored_results_again(gx_dir):
    site = gx_dir / "gx" / "uncommitted" / "data_docs" / "local_site"
    pages = site / "validations" / "vaccinations_batch"
    before = set(pages.rglob("*.html"))
    batch_gate.run_gate(profile(VACCINATIONS, duplicate_keys=1), build_docs=True)
    (first,) = set(pages.rglob("*.html")) - before
    first.unlink()  # a stored result whose page a full build would render again
    (site / "index.html").unlink()
    index = batch_gate.build_data_docs(validation_pages=False)
    assert index.is_file() and "vaccinations_batch" in index.read_text()
    assert not first.exists()
    assert batch_gate.build_data_docs() == index and first.exists()
