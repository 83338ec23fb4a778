"""``python -m bench --scale smoke`` (what ``make bench`` runs, at its smallest scale) measures the real ingest
steps and the baselines end to end, checks its own memory measurement, writes valid JSON and cleans up.

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
FACILITY_STEPS = ["register", "parse_stage", "rules", "gate", "merge", "report"]
BASELINES = ["copy", "copy_unlogged", "naive"]


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

    # every facility step and baseline measured at the three sizes, with real work done
    results = report["results"]
    for size in (1_000, 2_000, 4_000):
        here = {r["step"]: r for r in results if r["group"] == "vaccinations" and r["size"] == size}
        assert list(here) == [*FACILITY_STEPS, *BASELINES, "total"]
        for step, r in here.items():
            assert r["seconds"] > 0 and r["peak_rss_mb"] > 0, step
            assert r["rows"] >= size or step in ("merge",), step  # the file holds a few repeated rows
        assert here["merge"]["detail"]["rows_loaded"] > 0.9 * size  # ~3 % of rows carry an error
        assert here["report"]["detail"]["status"] == "loaded_with_errors"
        assert here["naive"]["detail"]["expectations"] >= 8
        total = here["total"]
        assert total["seconds"] == pytest.approx(
            sum(here[s]["seconds"] for s in FACILITY_STEPS if s != "report"), abs=1e-3
        )
        assert total["vs_copy"] > 0 and total["vs_naive"] > 0

    # check-in ingest: venues then check-ins, through the real code, at three sizes
    for size in (2_000, 4_000, 8_000):
        here = {r["step"]: r for r in results if r["group"] == "checkins" and r["size"] == size}
        assert list(here) == ["checkin_register", "checkin_ingest", *BASELINES, "total"]
        assert here["checkin_register"]["detail"]["venues_loaded"] > 0
        assert here["checkin_ingest"]["detail"]["rows_loaded"] > 0.9 * size
        assert here["total"]["vs_copy"] > 0 and here["total"]["vs_naive"] > 0

    # the memory measurement is per step and sees what a step holds
    check = report["memory_selfcheck"]
    assert 0.9 * check["probe_mb"] <= check["measured_growth_mb"] <= 1.2 * check["probe_mb"]
    assert check["next_idle_peak_mb"] < check["idle_peak_mb"] + 0.2 * check["probe_mb"]

    # stages not built yet are skipped with a message, and every target is listed with a verdict
    skipped = {s["group"]: s["reason"] for s in report["skipped"]}
    assert set(skipped) == {"status", "tracing", "publish"}
    assert all("not built" in reason for reason in skipped.values())
    assert {t["metric"] for t in report["targets"]} >= {"vs_copy", "vs_naive", "peak_mb", "flatness"}
    assert all(t["met"] in (True, False, None) for t in report["targets"])

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
