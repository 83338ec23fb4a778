"""Many small files (issue 16): a group's files are checked by the row rules as sets, each file's rows
judged on their own, and the files that merge are merged as sets, in batches of files that send no record
in common, one transaction a batch; each file still ends ``merged`` with its own rows, a later file still
replaces an earlier one's record (in order, with its history), and rules or a batch that fail are run
again file by file, so that one bad file fails alone."""

from __future__ import annotations

import os

import psycopg2
from ingest_rows import REGISTRY, VACCINATION, write_csv

from covidsync import db
from covidsync.ingest import engine, landing


def rows(ids, **change) -> list[dict]:
    return [
        dict(
            VACCINATION,
            **{"Mã bản ghi": f"R{i}", "Số CCCD/CMND": f"01709000{i:04d}", "Mã cơ sở": "17001"},
            **change,
        )
        for i in ids
    ]


def deliver(areas, name: str, content: list[dict], when: int) -> None:
    path = areas["landing"] / "17001" / "vaccinations" / name
    write_csv(path, content)
    os.utime(path, (1_637_000_000 + when, 1_637_000_000 + when))


def run_group(url, areas) -> list[dict]:
    (areas["landing"] / "registry").mkdir(parents=True, exist_ok=True)
    (areas["landing"] / "registry" / "facilities.csv").write_text(REGISTRY, encoding="utf-8")
    conn = db.connect(url)
    try:
        with conn:
            landing.load_registry(conn, areas["landing"])
        pending = landing.register(conn, areas["landing"]).pending
        (group,) = engine.groups(conn, pending)
        return engine.process_group(conn, group)
    finally:
        conn.close()


def query(url, sql):
    conn = psycopg2.connect(url)
    with conn.cursor() as cur:
        cur.execute(sql)
        out = cur.fetchall()
    conn.close()
    return out


def four_files(areas) -> None:
    deliver(areas, "a.csv", rows([1, 2, 3]), when=0)
    deliver(areas, "b.csv", rows([4, 5]), when=1)
    deliver(areas, "c.csv", rows([2, 6], **{"Số lô": "AZ0002"}), when=2)  # resends a's R2
    deliver(areas, "d.csv", rows([7]), when=3)


def test_a_groups_files_merge_as_sets_in_batches_and_a_resent_record_replaces_in_order(
    warehouse_url, areas, monkeypatch
):
    four_files(areas)
    batches, alone = [], []
    real_group, real_merge = engine.merge_group, engine.merge
    monkeypatch.setattr(
        engine,
        "merge_group",
        lambda conn, files: batches.append([f.original_name for f in files]) or real_group(conn, files),
    )
    monkeypatch.setattr(
        engine, "merge", lambda conn, f, **k: alone.append(f.original_name) or real_merge(conn, f, **k)
    )
    summaries = run_group(warehouse_url, areas)

    assert batches == [["a.csv", "b.csv"], ["c.csv", "d.csv"]], "c resends a's record: a new batch after a's"
    assert alone == []
    assert [(s["status"], s["rows_loaded"]) for s in summaries] == [
        ("loaded", 3),
        ("loaded", 2),
        ("loaded", 2),
        ("loaded", 1),
    ]
    assert query(
        warehouse_url,
        "select v.record_id, v.lot_number, f.original_name, v.source_row from core.vaccination as v "
        "join ops.landing_file as f on f.file_id = v.source_file_id order by v.vaccination_id",
    ) == [
        ("R1", "AZ0001", "a.csv", 1),
        ("R3", "AZ0001", "a.csv", 3),
        ("R4", "AZ0001", "b.csv", 1),
        ("R5", "AZ0001", "b.csv", 2),
        ("R2", "AZ0002", "c.csv", 1),
        ("R6", "AZ0002", "c.csv", 2),
        ("R7", "AZ0001", "d.csv", 1),
    ], "each file's rows in the order one file's merge gives them, file after file"
    assert query(
        warehouse_url,
        "select h.record_id, h.lot_number, s.original_name, r.original_name from core.vaccination_history as h "
        "join ops.landing_file as s on s.file_id = h.source_file_id "
        "join ops.landing_file as r on r.file_id = h.replaced_by_file_id",
    ) == [("R2", "AZ0001", "a.csv", "c.csv")]
    assert query(warehouse_url, "select status, count(*) from ops.landing_file group by 1") == [("merged", 4)]
    assert query(warehouse_url, "select count(*) from ops.file_event where to_status = 'merged'") == [(4,)], (
        "each file's own event"
    )
    assert query(warehouse_url, "select count(*) from staging.vaccination") == [(0,)]


def test_a_batch_that_fails_merges_file_by_file_and_one_bad_file_fails_alone(
    warehouse_url, areas, monkeypatch
):
    four_files(areas)
    real_group, real_merge = engine.merge_group, engine.merge

    def group_of_a_bad_file(conn, files):
        if any(f.original_name == "d.csv" for f in files):
            with conn, conn.cursor() as cur:  # a real database error inside the batch's transaction
                for name in files[0].spec.group_merge:
                    cur.execute(
                        engine.spec_sql(cur, files[0].spec, name), {"file_ids": [f.file_id for f in files]}
                    )
                cur.execute("insert into core.vaccination_history select * from core.no_such_table")
        return real_group(conn, files)

    def merge(conn, f, **kwargs):
        if f.original_name == "d.csv":
            with conn, conn.cursor() as cur:
                cur.execute("insert into core.vaccination_history select * from core.no_such_table")
        return real_merge(conn, f, **kwargs)

    monkeypatch.setattr(engine, "merge_group", group_of_a_bad_file)
    monkeypatch.setattr(engine, "merge", merge)
    summaries = run_group(warehouse_url, areas)

    assert [(s["status"], s["rows_loaded"]) for s in summaries] == [
        ("loaded", 3),
        ("loaded", 2),
        ("loaded", 2),
        ("rejected", 0),
    ], "the failed batch's files merged one by one: only the bad file is rejected"
    assert query(
        warehouse_url,
        "select f.original_name, count(*) from core.vaccination as v "
        "join ops.landing_file as f on f.file_id = v.source_file_id group by 1 order by 1",
    ) == [("a.csv", 2), ("b.csv", 2), ("c.csv", 2)]
    assert query(warehouse_url, "select record_id, lot_number from core.vaccination_history") == [
        ("R2", "AZ0001")
    ]
    assert query(
        warehouse_url, "select original_name, status, file_codes from ops.landing_file order by file_id"
    )[-1] == ("d.csv", "rejected", ["merge_failed"])


def test_a_groups_row_rules_run_once_as_sets_each_files_rows_judged_on_their_own(
    warehouse_url, areas, monkeypatch
):
    no_record_id = [{k: v for k, v in r.items() if k != "Mã bản ghi"} for r in rows([30, 30, 31])]
    deliver(areas, "a.csv", rows([1, 1, 2]), when=0)  # R1 twice: the second row a duplicate (record_id)
    deliver(areas, "b.csv", no_record_id, when=1)  # no record_id: the same CCCD and dose twice
    deliver(areas, "c.csv", rows([1, 3]), when=2)  # a's R1 again: not a duplicate in c's own rows
    dose_two = dict(rows([2])[0], **{"Mã bản ghi": "R2b", "Mũi số": "2", "Ngày tiêm": "11/09/2021"})
    early = dict(rows([3])[0], **{"Mã bản ghi": "R3b", "Mũi số": "2", "Ngày tiêm": "05/09/2021"})
    deliver(
        areas,
        "d.csv",
        [dose_two, dict(rows([4])[0]), dict(early, **{"Mã bản ghi": "R4b", "Số CCCD/CMND": "017090000004"})],
        when=3,
    )
    together, alone = [], []
    real_group, real_rules = engine.apply_rules_group, engine.apply_rules
    monkeypatch.setattr(
        engine,
        "apply_rules_group",
        lambda conn, staged: together.append(len(staged)) or real_group(conn, staged),
    )
    monkeypatch.setattr(engine, "apply_rules", lambda *a, **k: alone.append(a) or real_rules(*a, **k))
    summaries = run_group(warehouse_url, areas)

    assert together == [4] and alone == [], "the group's four files checked together"
    assert [(s["rows_total"], s["rows_rejected"], s["rows_with_warnings"]) for s in summaries] == [
        (3, 1, 0),
        (3, 1, 0),
        (2, 0, 0),
        (3, 0, 1),
    ]
    assert query(
        warehouse_url,
        "select f.original_name, q.row_number, q.column_name, q.code from quarantine.row_problem as q "
        "join ops.landing_file as f using (file_id) order by 1, 2",
    ) == [
        ("a.csv", 2, "record_id", "duplicate_in_file"),
        ("b.csv", 2, "citizen_id", "duplicate_in_file"),
        # d's dose 2 of 0004, 4 days after its dose 1 in d: too soon; d's dose 2 of R2's person is not
        # compared with a's dose 1 (another file of the group, not merged yet), as when each file was checked
        ("d.csv", 3, "vaccinated_on", "short_dose_interval"),
    ]
    assert query(
        warehouse_url,
        "select f.original_name, r.row_number from quarantine.rejected_row as r join ops.landing_file as f "
        "using (file_id) order by 1",
    ) == [("a.csv", 2), ("b.csv", 2)]
    assert query(warehouse_url, "select count(*) from ops.file_event where to_status = 'validated'") == [(4,)]
