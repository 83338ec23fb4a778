"""A file read straight into core (issue 16, e10-direct: ``engine.ingest_direct``): its rows that no set rule
needs are written to core by their batches, in the one transaction that ends with the merge. It loads what
the staging path loads (codes, warnings, replaced records, quarantine, counts); a failure anywhere leaves
nothing of it in core and the staging path takes the file; a file its gate holds keeps its rows in staging
(for a release), none in core. Real files, real PostgreSQL."""

from __future__ import annotations

import dataclasses

import psycopg2
from ingest_rows import REGISTRY, VACCINATION, ingest, write_csv

from covidsync import db
from covidsync.ingest import batch_gate, engine, landing

CORE = (
    "record_key, record_id, full_name, date_of_birth, birth_year_only, gender, citizen_id, phone, "
    "vaccine_code, lot_number, dose_number, vaccinated_on, warnings, source_row"
)


def rows(facility: str, day: int) -> list[dict]:
    """60 rows of one facility: a row sent twice, a dose 2 too soon after its dose 1, an impossible date, a
    resent record (R0005, changed on day 2), and clean rows."""
    out = [
        {
            **VACCINATION,
            "Mã bản ghi": f"R{i:04d}",
            "Số CCCD/CMND": f"0170900{i:05d}",
            "Mã cơ sở": facility,
            "Số lô": f"AZ{day}{i:03d}" if i == 5 else "AZ0001",
        }
        for i in range(60)
    ]
    if day == 2:
        out = [r for r in out if r["Mã bản ghi"] in ("R0005", "R0010", "R0011", "R0012")] + [
            {**r, "Mã bản ghi": f"N{i:04d}", "Số CCCD/CMND": f"0170900{i + 100:05d}"}
            for i, r in enumerate(out)
        ]
        out[1] = {
            **out[1],
            "Mũi số": "2",
            "Ngày tiêm": "05/09/2021",
            "Mã bản ghi": "D2",
        }  # R0010's person: 4 days
        out[1]["Số CCCD/CMND"] = "017090000010"
        out[3] = {**out[3], "Ngày tiêm": "32/13/2021"}  # no such day
        out.append(dict(out[20]))  # sent twice
    return out


def core_rows(url, facility: str) -> list[tuple]:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            f"select {CORE} from core.vaccination where facility_code = %s order by record_key", (facility,)
        )
        core = cur.fetchall()
        cur.execute(
            "select record_key, lot_number from core.vaccination_history where facility_code = %s order by 1",
            (facility,),
        )
        history = cur.fetchall()
        cur.execute(
            """
            select q.row_number, q.column_name, q.code, q.severity, r.raw
            from quarantine.row_problem as q
            join ops.landing_file as f on f.file_id = q.file_id
            left join quarantine.rejected_row as r on r.file_id = q.file_id and r.row_number = q.row_number
            where f.facility_code = %s
            order by f.received_at, 1, 2, 3
            """,
            (facility,),
        )
        problems = [(n, c, code, sev, raw and {**raw, "facility_code": None}) for n, c, code, sev, raw in cur]
        return core, history, problems


def test_a_file_straight_into_core_loads_what_the_staging_path_loads(warehouse_url, areas, monkeypatch):
    (areas["landing"] / "registry").mkdir(parents=True)
    (areas["landing"] / "registry" / "facilities.csv").write_text(REGISTRY, encoding="utf-8")
    taken: list[dict | None] = []
    real = engine.ingest_direct
    monkeypatch.setattr(engine, "ingest_direct", lambda *a, **k: taken.append(real(*a, **k)) or taken[-1])
    summaries = {}
    for day in (1, 2):
        for facility, direct in (("17001", "1"), ("17002", "0")):
            monkeypatch.setenv("COVIDSYNC_INGEST_DIRECT", direct)
            write_csv(areas["landing"] / facility / "vaccinations" / f"day{day}.csv", rows(facility, day))
            [summary] = ingest(warehouse_url, areas)
            summaries[(facility, day)] = {k: v for k, v in summary.items() if k != "file_id"}
    assert [t["status"] for t in taken] == ["merged", "merged"], "the direct path took both of 17001's files"
    assert taken[0]["rows_direct"] == 60 and 0 < taken[1]["rows_direct"] < 65
    for day in (1, 2):
        assert summaries[("17001", day)] == summaries[("17002", day)]
    assert (
        summaries[("17001", 2)]["rows_rejected"] == 2 and summaries[("17001", 2)]["rows_with_warnings"] >= 1
    )
    direct, staged = core_rows(warehouse_url, "17001"), core_rows(warehouse_url, "17002")
    assert direct[0] == staged[0] and len(direct[0]) == 60 + 1 + 60
    assert direct[1] == staged[1] and ("r:R0005", "AZ1005") in direct[1], "the resent record's first version"
    assert direct[2] == staged[2]
    assert {p[2] for p in direct[2]} >= {"duplicate_in_file", "short_dose_interval", "invalid_date"}
    with psycopg2.connect(warehouse_url) as conn, conn.cursor() as cur:
        cur.execute("select count(*) from staging.vaccination")
        assert cur.fetchone()[0] == 0


def _one_file(warehouse_url, areas, name="day1.csv"):
    (areas["landing"] / "registry").mkdir(parents=True, exist_ok=True)
    (areas["landing"] / "registry" / "facilities.csv").write_text(REGISTRY, encoding="utf-8")
    write_csv(areas["landing"] / "17001" / "vaccinations" / name, rows("17001", 1))
    conn = db.connect(warehouse_url)
    with conn:
        landing.load_registry(conn, areas["landing"])
    [file_id] = landing.register(conn, areas["landing"]).pending
    return conn, file_id


def _counts(conn, file_id) -> tuple:
    with conn.cursor() as cur:
        cur.execute("select count(*) from core.vaccination where source_file_id = %s", (file_id,))
        core = cur.fetchone()[0]
        cur.execute("select count(*) from staging.vaccination where file_id = %s", (file_id,))
        staged = cur.fetchone()[0]
        cur.execute("select status from ops.landing_file where file_id = %s", (file_id,))
        status = cur.fetchone()[0]
    conn.rollback()
    return core, staged, status


def test_a_failure_after_rows_reached_core_leaves_nothing_and_the_staging_path_takes_the_file(
    warehouse_url, areas, monkeypatch
):
    conn, file_id = _one_file(warehouse_url, areas)
    try:
        seen = []

        def broken(f, result):  # after the rows were written to core and the rules ran
            with conn.cursor() as cur:
                cur.execute("select count(*) from core.vaccination where source_file_id = %s", (f.file_id,))
                seen.append(cur.fetchone()[0])
            raise RuntimeError("the profile broke")

        with monkeypatch.context() as patch:
            patch.setattr(engine, "_finish_profile", broken)
            assert engine.ingest_direct(conn, engine.load_file(conn, file_id)) is None
        assert seen == [60], "the rows were in core inside the transaction"
        assert _counts(conn, file_id) == (0, 0, "received"), "rolled back: nothing in core, still received"
        assert engine.process_file(conn, file_id)["status"] == "loaded"
        assert _counts(conn, file_id)[0] == 60
    finally:
        conn.close()


def test_a_file_its_gate_holds_keeps_its_rows_in_staging_and_none_in_core(warehouse_url, areas, monkeypatch):
    conn, file_id = _one_file(warehouse_url, areas)
    try:
        real = batch_gate.run_gate
        with monkeypatch.context() as patch:
            patch.setattr(
                batch_gate,
                "run_gate",
                lambda *a, **k: dataclasses.replace(real(*a, **k), success=False, failed=["forced"]),
            )
            summary = engine.process_file(conn, file_id)
        assert summary["status"] == "rejected" and summary["rows_loaded"] == 0
        assert _counts(conn, file_id) == (0, 60, "held"), "held: every row in staging for a release"
        with conn.cursor() as cur:
            cur.execute(
                "select count(*), bool_or(success) from ops.validation_result where file_id = %s", (file_id,)
            )
            assert cur.fetchone() == (1, False), "one gate result"
        conn.rollback()
        released = engine.release(conn, file_id, "checked by hand", "operator")
        assert released["status"] == "loaded" and released["rows_loaded"] == 60
        assert _counts(conn, file_id)[:2] == (60, 0)
    finally:
        conn.close()


def test_a_file_over_the_direct_cap_takes_the_staging_path_with_the_same_result(
    warehouse_url, areas, monkeypatch
):
    """The direct path's memory grows with the file (it keeps every row's key hashes to find repeats at the end:
    613 MB at 1M rows), so a file over ``COVIDSYNC_INGEST_DIRECT_MAX_BYTES`` takes the staging path, whose
    memory is flat; what it loads is the same."""
    from covidsync.ingest import columnar

    (areas["landing"] / "registry").mkdir(parents=True)
    (areas["landing"] / "registry" / "facilities.csv").write_text(REGISTRY, encoding="utf-8")
    taken: list[dict | None] = []
    real = engine.ingest_direct
    monkeypatch.setattr(engine, "ingest_direct", lambda *a, **k: taken.append(real(*a, **k)) or taken[-1])
    summaries = {}
    for facility, cap in (("17001", 1 << 20), ("17002", 1_000)):  # the file: about 12 kB
        monkeypatch.setattr(columnar, "DIRECT_MAX_BYTES", cap)
        write_csv(areas["landing"] / facility / "vaccinations" / "day1.csv", rows(facility, 1))
        [summary] = ingest(warehouse_url, areas)
        summaries[facility] = {k: v for k, v in summary.items() if k != "file_id"}
    assert [t["status"] for t in taken] == ["merged"], "only the file under the cap took the direct path"
    assert summaries["17001"] == summaries["17002"]
    direct, staged = core_rows(warehouse_url, "17001"), core_rows(warehouse_url, "17002")
    assert direct == staged and len(direct[0]) == 60


def test_a_files_core_rows_go_in_one_copy_across_its_batches_with_the_same_result(
    warehouse_url, areas, monkeypatch
):
    """e27-writer: the direct rows of a file of several batches reach core in ONE statement (the table's
    statement triggers, migration 0016's reference checks, see them all at once), and the rows held back
    while that COPY is open (staged rows, row codes) are written after it: the same result as the staging
    path, also when they are written after every batch and when the facility has records already (the COPY
    ends before each batch's lookup of existing keys)."""
    from covidsync.ingest import columnar

    (areas["landing"] / "registry").mkdir(parents=True)
    registry = REGISTRY + "17003,Trạm Y tế xã Dân Chủ,commune_health_station,17,148,04789\n"
    (areas["landing"] / "registry" / "facilities.csv").write_text(registry, encoding="utf-8")
    with psycopg2.connect(warehouse_url) as conn, conn.cursor() as cur:
        cur.execute(
            """
            create table public.core_statement (facility_code text, source_file_id bigint, n bigint);
            create function public.log_core_statement() returns trigger language plpgsql as $$
            begin
                insert into public.core_statement
                select facility_code, source_file_id, count(*) from new_rows group by 1, 2;
                return null;
            end $$;
            create trigger log_core_statement after insert on core.vaccination
            referencing new table as new_rows for each statement execute function public.log_core_statement();
            """
        )
    monkeypatch.setattr(columnar, "_NATIVE_CHUNK", 1500)  # a 60-row file in several batches
    batches: list[int] = []
    real_read = columnar.read_batches
    monkeypatch.setattr(
        columnar,
        "read_batches",
        lambda *a, **k: (batches.append(f.height) or f for f in real_read(*a, **k)),
    )
    taken: list[dict | None] = []
    real = engine.ingest_direct
    monkeypatch.setattr(engine, "ingest_direct", lambda *a, **k: taken.append(real(*a, **k)) or taken[-1])
    summaries = {}
    for day in (1, 2):
        for facility, direct, held in (("17001", "1", 25_000), ("17003", "1", 0), ("17002", "0", 25_000)):
            monkeypatch.setenv("COVIDSYNC_INGEST_DIRECT", direct)
            monkeypatch.setattr(columnar, "HELD_MAX_ROWS", held)
            write_csv(areas["landing"] / facility / "vaccinations" / f"day{day}.csv", rows(facility, day))
            batches.clear()
            [summary] = ingest(warehouse_url, areas)
            summaries[(facility, day)] = {k: v for k, v in summary.items() if k != "file_id"}
            if facility == "17001" and day == 1:
                assert len(batches) > 2, batches
    assert [t["status"] for t in taken] == ["merged"] * 4
    with psycopg2.connect(warehouse_url) as conn, conn.cursor() as cur:
        cur.execute(
            "select n from public.core_statement where facility_code = '17001' order by source_file_id limit 1"
        )
        assert cur.fetchone()[0] == 60, "day 1's 60 rows in one statement"
    staged = core_rows(warehouse_url, "17002")
    for facility in ("17001", "17003"):
        for day in (1, 2):
            assert summaries[(facility, day)] == summaries[("17002", day)]
        direct = core_rows(warehouse_url, facility)
        assert direct[0] == staged[0] and direct[1] == staged[1] and direct[2] == staged[2]


def test_a_chunk_not_plain_while_the_core_copy_is_open_aborts_it_and_leaves_nothing(
    warehouse_url, areas, monkeypatch
):
    """e27-writer: a later chunk that is not one record a line raises in the main thread while the file's one
    core COPY is open on the writer thread: the COPY is aborted, the direct path gives the file up with
    nothing of it in core, and the connection is free for the staging path."""
    from covidsync.ingest import columnar

    monkeypatch.setattr(columnar, "_NATIVE_CHUNK", 1500)
    (areas["landing"] / "registry").mkdir(parents=True)
    (areas["landing"] / "registry" / "facilities.csv").write_text(REGISTRY, encoding="utf-8")
    path = areas["landing"] / "17001" / "vaccinations" / "day1.csv"
    write_csv(path, rows("17001", 1))
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[-2] = lines[-2].replace("Nguyễn", 'Ngu"yễn', 1)  # the csv module reads it as a character
    assert '"' in lines[-2]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    conn = db.connect(warehouse_url)
    with conn:
        landing.load_registry(conn, areas["landing"])
    [file_id] = landing.register(conn, areas["landing"]).pending
    opened: list[bool] = []
    batch = columnar._OneCopy.batch
    monkeypatch.setattr(
        columnar._OneCopy, "batch", lambda self, *a: opened.append(self.task is not None) or batch(self, *a)
    )
    try:
        conn.commit()
        f = engine.load_file(conn, file_id)
        conn.rollback()
        assert engine.ingest_direct(conn, f) is None
        assert any(opened), "a COPY was open when the chunk failed"
        assert _counts(conn, file_id) == (0, 0, "received")
    finally:
        conn.close()


def test_repeated_keys_within_a_batch_or_the_next_never_read_the_spill_again(
    warehouse_url, areas, monkeypatch
):
    """e40-vacc: the first row of a key that repeats in its own batch goes to staging with that batch (not to
    core and back), and one whose key comes again in the next batch is moved back from its typed rows, not
    typed again from the spill; the file loads what the staging path loads."""
    from covidsync.ingest import columnar

    (areas["landing"] / "registry").mkdir(parents=True)
    (areas["landing"] / "registry" / "facilities.csv").write_text(REGISTRY, encoding="utf-8")
    monkeypatch.setattr(columnar, "_NATIVE_CHUNK", 1500)  # a 60-row file in batches of about ten rows
    spilled: list[list[int]] = []
    real_spill = columnar._spill_rows
    monkeypatch.setattr(columnar, "_spill_rows", lambda s, r: spilled.append(list(r)) or real_spill(s, r))
    taken: list[dict | None] = []
    real = engine.ingest_direct
    monkeypatch.setattr(engine, "ingest_direct", lambda *a, **k: taken.append(real(*a, **k)) or taken[-1])
    summaries = {}
    for facility, direct in (("17001", "1"), ("17002", "0")):
        monkeypatch.setenv("COVIDSYNC_INGEST_DIRECT", direct)
        out = rows(facility, 1)
        # row 10 sent twice in a row (its batch), row 30 again six rows later (its batch or the next)
        out = out[:11] + [dict(out[10])] + out[11:37] + [dict(out[30])] + out[37:]
        write_csv(areas["landing"] / facility / "vaccinations" / "day1.csv", out)
        [summary] = ingest(warehouse_url, areas)
        summaries[facility] = {k: v for k, v in summary.items() if k != "file_id"}
    [done] = taken
    assert done["status"] == "merged" and done["timings"]["rows_moved_firsts"] <= 2
    assert not [r for r in spilled if r], "no row typed again from the spill"
    assert summaries["17001"] == summaries["17002"]
    direct, staged = core_rows(warehouse_url, "17001"), core_rows(warehouse_url, "17002")
    assert direct == staged
    assert sum(1 for p in direct[2] if p[2] == "duplicate_in_file") == 2
