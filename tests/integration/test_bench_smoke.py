"""``python -m bench --scale smoke`` (what ``make bench`` runs, at its smallest scale) measures the real ingest
steps, the identity/status builds, tracing and publish, and the baselines end to end, checks its own memory
measurement, writes valid JSON and cleans up.

The test runs every group and every step of the smoke scale at two sizes (``--sizes 1000,2000``) rather than
the scale's three: a size costs about 2.5 s of fixed work (fresh database, child processes) whatever its rows,
and two sizes still show each group's figures per size and the targets' per-size notes.

The only bench-related test: the figures themselves are measured by ``make bench`` and reported in
docs/performance.md, never asserted here (a shared CI machine makes absolute numbers meaningless).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psycopg2
import pytest

PROJECT = Path(__file__).resolve().parents[2]
# the path process_file takes (issue 16, e10-direct): read, rules, gate and merge as one step straight into core
FACILITY_STEPS = ["register", "direct", "report", "core_export"]
FLOORS = [
    "copy_core",
    "copy_core_indexed",
]  # the merged core rows COPYed: bare, and into the table as it stands
BASELINES = ["copy", "copy_unlogged", "naive"]
SIZES = (1_000, 2_000)  # every group at both


@pytest.mark.integration
def test_bench_smoke_runs_end_to_end_and_writes_valid_json(pg_admin_url, tmp_path):
    out = tmp_path / "results"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--scale",
            "smoke",
            "--sizes",
            ",".join(str(size) for size in SIZES),
            "--server-url",
            pg_admin_url,
            "--out",
            str(out),
            "--data-dir",
            str(tmp_path / "bench"),
        ],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    (path,) = out.glob("smoke-*.json")
    report = json.loads(path.read_text(encoding="utf-8"))

    assert report["machine"]["cores"] >= 1 and report["machine"]["memory_gb"] > 0
    assert report["machine"]["postgresql"]

    # every facility step and baseline measured at both sizes, with real work done
    results = report["results"]
    for size in SIZES:
        here = {r["step"]: r for r in results if r["group"] == "vaccinations" and r["size"] == size}
        assert list(here) == [*FACILITY_STEPS, *BASELINES, *FLOORS, "total"]
        for step, r in here.items():
            assert r["seconds"] > 0 and r["peak_rss_mb"] > 0, step
            # the file holds a few repeated rows; the floors COPY the rows loaded
            assert r["rows"] >= size or step in ("direct", "core_export", *FLOORS), step
        assert here["direct"]["detail"]["rows_loaded"] > 0.9 * size  # ~3 % of rows carry an error
        # most rows went straight into core; the rest (frame codes, repeated keys) through staging
        assert 0 < here["direct"]["detail"]["rows_direct"] <= here["direct"]["detail"]["rows_loaded"]
        assert here["report"]["detail"]["status"] == "loaded_with_errors"
        assert here["naive"]["detail"]["expectations"] >= 8
        total = here["total"]
        assert total["seconds"] == pytest.approx(
            sum(here[s]["seconds"] for s in FACILITY_STEPS if s not in ("report", "core_export")), abs=1e-3
        )
        assert total["vs_copy"] > 0 and total["vs_naive"] > 0
        loaded = here["direct"]["detail"]["rows_loaded"]
        assert (
            here["core_export"]["rows"]
            == here["copy_core"]["rows"]
            == here["copy_core_indexed"]["rows"]
            == loaded
        )
        # the floor as the table stands carries its statement-level reference checks (migration 0016)
        assert here["copy_core_indexed"]["detail"]["triggers"] >= 2
        assert here["copy_core_indexed"]["detail"]["foreign_keys"] == 0
        assert total["vs_copy_core_indexed"] > 0

    # check-in ingest: venues then check-ins, through the real code, at both sizes
    for size in SIZES:
        here = {r["step"]: r for r in results if r["group"] == "checkins" and r["size"] == size}
        assert list(here) == [
            "checkin_register",
            "checkin_ingest",
            "checkin_core_export",
            *BASELINES,
            "copy_core",
            "copy_core_indexed",
            "copy_core_sorted",
            "total",
        ]
        assert here["checkin_register"]["detail"]["venues_loaded"] > 0
        assert here["checkin_ingest"]["detail"]["rows_loaded"] > 0.9 * size
        assert here["total"]["vs_copy"] > 0 and here["total"]["vs_naive"] > 0
        # the floors COPY exactly the core rows the ingest loaded, and each is set against COPY of the file
        loaded = here["checkin_ingest"]["detail"]["rows_loaded"]
        assert here["checkin_core_export"]["rows"] == here["copy_core"]["rows"] == loaded
        assert here["copy_core_indexed"]["rows"] == here["copy_core_sorted"]["rows"] == loaded
        assert here["copy_core_indexed"]["vs_copy"] > 0 and here["naive"]["vs_copy"] > 0
        # the headline is register + ingest: the export is outside it
        assert here["total"]["seconds"] == pytest.approx(
            here["checkin_register"]["seconds"] + here["checkin_ingest"]["seconds"], abs=1e-3
        )

    # declarations (issue 24): register + ingest through the engine, against the check-ins' baselines and the
    # floors (the core rows COPYed bare and into core.declaration as it stands)
    for size in SIZES:
        here = {r["step"]: r for r in results if r["group"] == "declarations" and r["size"] == size}
        assert list(here) == [
            "declaration_register",
            "declaration_ingest",
            "core_export",
            *BASELINES,
            *FLOORS,
            "total",
        ]
        assert here["declaration_ingest"]["detail"]["rows_loaded"] > 0.9 * size
        assert here["total"]["vs_copy"] > 0 and here["total"]["vs_naive"] > 0
        loaded = here["declaration_ingest"]["detail"]["rows_loaded"]
        assert (
            here["core_export"]["rows"]
            == here["copy_core"]["rows"]
            == here["copy_core_indexed"]["rows"]
            == loaded
        )
        assert here["total"]["vs_copy_core_indexed"] > 0
        assert here["total"]["seconds"] == pytest.approx(
            here["declaration_register"]["seconds"] + here["declaration_ingest"]["seconds"], abs=1e-3
        )

    # the memory measurement is per step and sees what a step holds
    check = report["memory_selfcheck"]
    assert 0.9 * check["probe_mb"] <= check["measured_growth_mb"] <= 1.2 * check["probe_mb"]
    assert check["next_idle_peak_mb"] < check["idle_peak_mb"] + 0.2 * check["probe_mb"]

    # identity and status: the real builds on generated core data, full then incremental after one more day
    for size in SIZES:
        here = {r["step"]: r for r in results if r["group"] == "status" and r["size"] == size}
        assert list(here) == [
            "status_prepare",
            "identity_full",
            "status_full",
            "status_load_day",
            "status_incremental",
            "status_nothing_new",
            "total",
        ]
        assert here["status_prepare"]["kind"] == "prepare"
        full, incremental = here["status_full"]["detail"], here["status_incremental"]["detail"]
        assert full["mode"] == "full" and full["touched"] == full["persons"] == here["identity_full"]["rows"]
        assert incremental["mode"] == "incremental" and 0 < incremental["touched"] <= incremental["persons"]
        assert here["status_nothing_new"]["detail"]["touched"] == 0
        assert here["status_load_day"]["rows"] > 0
        assert here["total"]["seconds"] == here["status_full"]["seconds"]

    # tracing: the check-ins traced are the rows COPYed, with F0s that have candidates
    for size in SIZES:
        here = {r["step"]: r for r in results if r["group"] == "tracing" and r["size"] == size}
        assert list(here) == ["tracing_prepare", "tracing", "copy", "total"]
        prepared = here["tracing_prepare"]["detail"]
        assert prepared["checkins"] == size and prepared["f0_active"] == prepared["f0_tests"] > 0
        assert here["tracing"]["rows"] == here["copy"]["rows"] == size
        assert here["tracing"]["detail"]["candidates"] > 0
        assert here["total"]["time_x_copy"] > 0

    # publish: a release of every person with a CCCD (nine in ten), against COPY of the release's rows
    for size in SIZES:
        here = {r["step"]: r for r in results if r["group"] == "publish" and r["size"] == size}
        assert list(here) == [
            "publish_prepare",
            "publish",
            "publish_export",
            "publish_flip",
            "publish_day",
            "publish_reset",
            "publish_2v",
            "publish_flip_again",
            "publish_2v_day",
            "copy",
            "total",
        ]
        assert here["publish"]["detail"]["status"] == "current"
        # the Sổ SKĐT view's cost: the same two releases with and without it
        assert here["publish_2v"]["rows"] == here["publish"]["rows"]
        assert (
            here["publish_day"]["detail"]["rows_changed"]
            == here["publish_2v_day"]["detail"]["rows_changed"]
            > 0
        )
        assert here["publish"]["rows"] == here["copy"]["rows"] == 9 * size // 10
        assert here["total"]["time_x_copy"] > 0

    # nothing is skipped any more, and every target is listed with a verdict
    assert report["skipped"] == []
    assert {t["metric"] for t in report["targets"]} >= {
        "vs_copy",
        "vs_naive",
        "peak_mb",
        "flatness",
        "step_ratio",
        "time_x_copy",
    }
    assert all(t["met"] in (True, False, None) for t in report["targets"])
    verdicts = {t["group"]: t for t in report["targets"] if t["group"] in ("status", "tracing", "publish")}
    assert set(verdicts) == {"status", "tracing", "publish"}
    assert all(t["met"] in (True, False) and t["value"] > 0 and t["at_rows"] for t in verdicts.values())

    assert "vaccinations:" in proc.stdout and str(path) in proc.stdout
    conn = psycopg2.connect(pg_admin_url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "select count(*) from pg_database where datname like %s", (report["database_prefix"] + "%",)
            )
            assert cur.fetchone()[0] == 0  # its databases were dropped
    finally:
        conn.close()
    assert not list((tmp_path / "bench").glob("run-*"))  # and its data areas removed
