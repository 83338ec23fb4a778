"""The arrivals sample through the pipeline (issue 24): every expected problem of its declaration and
registry files is reported and nothing else; files end as the truth says; the accepted risk-level history is
what ref.place_risk_level reads."""

from __future__ import annotations

import csv
import datetime as dt

import psycopg2

from covidsync import db
from covidsync.ingest import checkins, landing, pipeline, registry_arrivals
from covidsync.sample.arrivals import ArrivalsSample

REGISTRY = (
    "facility_code,name,facility_type,province_code,district_code,commune_code\n"
    "17001,Bệnh viện Đa khoa tỉnh Hòa Bình,provincial_hospital,17,148,04789\n"
)


def _csv(path):
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_the_arrivals_sample_loads_as_its_truth_says(warehouse_url, areas, monkeypatch):
    monkeypatch.setenv("COVIDSYNC_GX_DOCS", "0")
    root = areas["landing"].parent
    ArrivalsSample(seed=5, start=dt.date(2021, 11, 1), days=2, facility_code="17001", travellers=16).write(
        areas["landing"], root / "truth"
    )
    (areas["landing"] / "registry" / "facilities.csv").write_text(REGISTRY, encoding="utf-8")
    conn = db.connect(warehouse_url)
    try:
        with conn:
            landing.load_registry(conn)
        registries = registry_arrivals.load_registries(conn)
        for file_id in sorted(landing.register(conn).pending):
            pipeline.process_file(conn, file_id)
        checkins.ingest_landing(conn)
    finally:
        conn.close()
    files = {f["file"]: f for f in _csv(root / "truth" / "arrivals_files.csv")}
    for outcome in registries:
        assert outcome["status"] == files[outcome["relative_path"]]["expected_status"], outcome
    manifest = {
        (m["file"], int(m["row_number"]), m["column"], m["code"], m["severity"])
        for m in _csv(root / "truth" / "arrivals_manifest.csv")
        if not m["file"].startswith("registry/")
    }
    with psycopg2.connect(warehouse_url) as pg, pg.cursor() as cur:
        cur.execute(
            "select f.relative_path, q.row_number, q.column_name, q.code, q.severity"
            " from quarantine.row_problem q join ops.landing_file f using (file_id)"
        )
        assert set(cur.fetchall()) == manifest
        cur.execute("select relative_path, status from ops.landing_file")
        statuses = dict(cur.fetchall())
        cur.execute("select count(*), count(*) filter (where kind = 'movement') from core.declaration")
        declared = cur.fetchone()
        cur.execute(
            "select area_code, level, effective_from::text from ref.risk_level order by version_id, row_number"
        )
        loaded_levels = cur.fetchall()
    for name, f in files.items():
        if f["dataset"] not in ("risk_levels", "arrival_measures"):
            assert statuses[name] == "merged", name
    rows = sum(int(f["rows"]) for f in files.values() if f["dataset"] == "declarations")
    assert declared[0] == rows - 1  # the one row with an error (invalid_declaration_kind) is not loaded
    truth_levels = [
        (r["area_code"], int(r["level"]), r["effective_from"])
        for r in _csv(root / "truth" / "risk_levels.csv")
    ]
    assert loaded_levels == truth_levels
