"""A declarations file read straight into core has its merge run while GX validates its profile on another
thread (issue 24, e30-decl: ``engine.ingest_direct`` for a spec's own ``direct_merge_hook``). Nothing of that
merge may outlive a failed gate: the file's rows, persons and links are rolled back with the read, and the
staging path holds the file whole, as it did when the gate ran first."""

from __future__ import annotations

import dataclasses

import declaration_cases

from covidsync import db
from covidsync.ingest import batch_gate, declarations, engine, landing


def _ingest(warehouse_url, areas, monkeypatch, *, gate_fails: bool):
    monkeypatch.setenv("COVIDSYNC_GX_DOCS", "0")
    real_gate, real_merge = batch_gate.run_gate, declarations.merge_direct
    merged = []

    def gate(*args, **kwargs):
        result = real_gate(*args, **kwargs)
        return dataclasses.replace(result, success=False, failed=["forced"]) if gate_fails else result

    def merge(cur, f, params, read):
        merged.append(f.file_id)
        return real_merge(cur, f, params, read)

    monkeypatch.setattr(batch_gate, "run_gate", gate)
    monkeypatch.setattr(declarations, "merge_direct", merge)
    rows = [{**declaration_cases.clean(i), "declaration_id": f"G{i}"} for i in range(40)]
    declaration_cases.write_rows(areas["landing"] / "pccovid" / "declarations", "gate.csv", rows)
    conn = db.connect(warehouse_url)
    try:
        [file_id] = landing.register(conn, scope=landing.PCCOVID).pending
        summary = engine.process_file(conn, file_id)
        with conn.cursor() as cur:
            cur.execute("select count(*) from core.declaration")
            in_core = cur.fetchone()[0]
            cur.execute("select count(*) from core.checkin_person")
            persons = cur.fetchone()[0]
            cur.execute("select status from ops.landing_file where file_id = %s", (file_id,))
            status = cur.fetchone()[0]
    finally:
        conn.close()
    return summary, merged, in_core, persons, status


def test_a_failed_gate_leaves_nothing_of_the_merge_that_ran_beside_it(warehouse_url, areas, monkeypatch):
    summary, merged, in_core, persons, status = _ingest(warehouse_url, areas, monkeypatch, gate_fails=True)
    assert merged  # the direct merge ran (beside the gate) before the gate's answer came
    assert status == "held" and summary["rows_loaded"] == 0
    assert in_core == 0 and persons == 0


def test_a_passed_gate_commits_the_merge(warehouse_url, areas, monkeypatch):
    summary, merged, in_core, persons, status = _ingest(warehouse_url, areas, monkeypatch, gate_fails=False)
    assert merged and status == "merged"
    assert in_core == summary["rows_loaded"] == 40 and persons > 0
