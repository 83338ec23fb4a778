"""Declarations straight into core (issue 16, e18-decl-direct): a received declarations file whose clean rows
are written by their batches into core.declaration in the file's one transaction (engine.ingest_direct with the
spec's direct_stage_hook and direct_merge_hook) leaves exactly what the staging path leaves: core.declaration,
its history, the persons and identity links, every row problem, the quarantine, result.json and errors.csv,
file after file:

1. the edge-case file (every code of arrivals.md §4, ids made unique so that the direct path takes it) into an
   empty warehouse (core.declaration's secondary indexes built by sort);
2. a file that resends ids of the first (the earlier versions to history), with new ids and bad rows;
3. a file whose id repeats after its first row went to core (the staging path takes it: same outputs);
4. a file with a bad row and clean rows (the direct path), whose rows the staging path would have loaded too.

Run once with ``COVIDSYNC_INGEST_DIRECT=0`` into one warehouse and once as is into another, then compared."""

from __future__ import annotations

import json
from pathlib import Path

import declaration_cases
import psycopg2

from covidsync import db
from covidsync.ingest import declarations, engine, landing

_MERGE_DIRECT = declarations.merge_direct
QUERIES = {
    "row_problem": "select f.original_name, q.row_number, q.column_name, q.code, q.severity "
    "from quarantine.row_problem as q join ops.landing_file as f using (file_id) order by 1, 2, 3, 4",
    "rejected_row": "select f.original_name, q.row_number, q.raw::text "
    "from quarantine.rejected_row as q join ops.landing_file as f using (file_id) order by 1, 2",
    "declaration": "select app, declaration_id, kind, submitted_at::text, person_kind, person_key, declared_by, "
    "origin_province_code, origin_district_code, origin_commune_code, origin_known, destination_commune_code, "
    "destination_in_province, travel_date::text, means, fever, cough, shortness_of_breath, sore_throat, "
    "loss_of_taste_or_smell, contact_with_f0, visited_outbreak_area, symptoms_reported, warnings, f.original_name, "
    "source_row from core.declaration as d join ops.landing_file as f on f.file_id = d.source_file_id "
    "order by 1, 2",
    "declaration_history": "select app, declaration_id, kind, person_key, warnings, f.original_name, source_row, "
    "r.original_name from core.declaration_history as h "
    "join ops.landing_file as f on f.file_id = h.source_file_id "
    "join ops.landing_file as r on r.file_id = h.replaced_by_file_id order by 1, 2, 6",
    "checkin_person": "select person_kind, person_key, identifier, full_name, date_of_birth::text, birth_year, "
    "gender, phone, first_seen_at::text, last_seen_at::text from core.checkin_person order by 1, 2",
    "identity_link": "select i.citizen_id, i.other_kind, i.other_value, i.source, f.original_name "
    "from core.identity_link as i join ops.landing_file as f on f.file_id = i.first_seen_file_id order by 1, 2, 3",
    "files": "select original_name, status, rows_total, rows_loaded, rows_rejected, rows_with_warnings, "
    "file_codes from ops.landing_file order by file_id",
    "indexes": "select indexname, indexdef from pg_indexes where schemaname = 'core' "
    "and tablename in ('declaration', 'checkin_person', 'identity_link') order by 1",
}


def _files() -> list[tuple[str, list[dict]]]:
    edge = declaration_cases.rows(1500)
    for i, row in enumerate(edge):  # unique ids: no row repeats another's (the duplicate rule is file 3's)
        row["declaration_id"] = f"E{i}" if row["declaration_id"].strip() else ""
    clean = declaration_cases.clean
    edge += [{**clean(1500), "declaration_id": "K1"}, {**clean(1501), "declaration_id": "K2", "app": "sskdt"}]
    resend = [
        {**clean(0), "declaration_id": "K1", "fever": "Có"},  # replaces a row of edge.csv
        {**clean(1), "declaration_id": "K2", "app": "SSKDT", "means": "máy bay"},  # and another
        {**clean(2), "declaration_id": "N2"},
        {**clean(3), "declaration_id": "N3", "kind": "travel"},  # invalid_declaration_kind
        {**clean(4), "declaration_id": "N4", "app": "sskdt", "declared_by": "khai hộ"},
        {**clean(5), "declaration_id": "E5", "app": "Sổ SKĐT"},  # sskdt's E5: new unless E5 was sskdt
    ]
    repeated = [
        {**clean(6), "declaration_id": "R1"},
        {**clean(7), "declaration_id": "R2"},
        {**clean(8), "declaration_id": "R1", "phone": "0912000999"},  # duplicate_in_file after a core row
    ]
    mixed = [
        {**clean(9), "declaration_id": "M1", "cough": "Có"},
        {**clean(10), "declaration_id": "M2", "origin_province_code": "99"},  # a code: staged
        {**clean(11), "declaration_id": "M3", "means": "ship", "declared_by": ""},
        {**clean(12), "declaration_id": "M4", "kind": "HEALTH", "origin_province_code": ""},
        # one person twice in a batch: the later instant sorts first as text (05:00Z is 12:00+07:00), so a
        # person's first and last submission compared as the text sent would swap (e34-decl)
        {
            **clean(13),
            "declaration_id": "M5",
            "citizen_id": "001090007777",
            "submitted_at": "2021-11-20T05:00:00Z",
        },
        {
            **clean(13),
            "declaration_id": "M6",
            "citizen_id": "001090007777",
            "submitted_at": "2021-11-20T10:00:00+07:00",
        },
    ]
    return [("edge.csv", edge), ("resend.csv", resend), ("repeated.csv", repeated), ("mixed.csv", mixed)]


def _run(url: str, data: Path, monkeypatch, direct: bool) -> tuple[dict, list[str]]:
    monkeypatch.setenv("COVIDSYNC_WAREHOUSE_URL", url)
    monkeypatch.setenv("COVIDSYNC_DATA_DIR", str(data))
    monkeypatch.setenv("COVIDSYNC_INGEST_DIRECT", "1" if direct else "0")
    monkeypatch.setenv("COVIDSYNC_MAX_REJECTED_SHARE", "1")  # the edge file merges however many rows fail
    for name in ("landing", "outbox", "archive", "rejected"):
        (data / name).mkdir(parents=True, exist_ok=True)
    taken: list[str] = []
    real = _MERGE_DIRECT

    def recording(cur, f, params, read):
        taken.append(f.original_name)
        return real(cur, f, params, read)

    monkeypatch.setattr(declarations, "merge_direct", recording)
    reports = {}
    conn = db.connect(url)
    try:
        for name, rows in _files():
            declaration_cases.write_rows(data / "landing" / "pccovid" / "declarations", name, rows)
            [file_id] = landing.register(conn, scope=landing.PCCOVID).pending
            engine.process_file(conn, file_id, docs="off")
            result = json.loads((data / "outbox" / "pccovid" / f"{name}.result.json").read_text("utf-8"))
            result.pop("processed_at", None)
            errors = data / "outbox" / "pccovid" / f"{name}.errors.csv"
            reports[name] = {
                "result": result,
                "errors": errors.read_text("utf-8-sig").splitlines() if errors.exists() else None,
            }
    finally:
        conn.close()
    with psycopg2.connect(url) as c, c.cursor() as cur:
        cur.execute("set time zone 'UTC'")
        tables = {}
        for key, sql in QUERIES.items():
            cur.execute(sql)
            tables[key] = [list(r) for r in cur.fetchall()]
    return json.loads(json.dumps({"reports": reports, **tables}, default=str)), taken


def test_straight_into_core_leaves_what_the_staging_path_leaves(
    warehouse_url, module_warehouse_url, tmp_path, monkeypatch
):
    staged, none = _run(module_warehouse_url, tmp_path / "staged", monkeypatch, direct=False)
    direct, taken = _run(warehouse_url, tmp_path / "direct", monkeypatch, direct=True)
    assert none == []
    assert taken == ["edge.csv", "resend.csv", "mixed.csv"]  # repeated.csv: its R1 repeats a row in core
    assert len(staged["declaration"]) > 300 and staged["declaration_history"]  # the files do work
    assert len(staged["row_problem"]) > 500 and staged["checkin_person"] and staged["identity_link"]
    for key in staged:
        assert direct[key] == staged[key], key
