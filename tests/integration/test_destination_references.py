"""The ingest's destination checks its references once per statement (migration 0016), with the guarantees of
the foreign keys it replaced: a row naming an unknown facility, vaccine product, landing file or row code never
reaches core or quarantine, whatever writes it (INSERT ... SELECT, VALUES, COPY, UPDATE, ON CONFLICT), and a
referenced row cannot be deleted, re-keyed or truncated away, also when the two race."""

from __future__ import annotations

import io
import threading
import time

import psycopg2
import psycopg2.errors
import pytest

VACCINATION_COLUMNS = (
    "facility_code, record_key, full_name, date_of_birth, citizen_id, province_code, district_code,"
    " commune_code, vaccine_code, lot_number, dose_number, vaccinated_on, source_file_id, source_row"
)

# the ingest tables whose references were foreign keys, with the column and what it names
REFERENCES = [
    ("core.vaccination", "facility_code", "ops.facility"),
    ("core.vaccination", "vaccine_code", "core.vaccine_product"),
    ("core.vaccination", "source_file_id", "ops.landing_file"),
    ("core.vaccination_history", "replaced_by_file_id", "ops.landing_file"),
    ("core.test_result", "facility_code", "ops.facility"),
    ("core.test_result", "source_file_id", "ops.landing_file"),
    ("core.test_result_history", "replaced_by_file_id", "ops.landing_file"),
    ("quarantine.row_problem", "file_id", "ops.landing_file"),
    ("quarantine.row_problem", "code", "ops.row_code"),
    ("quarantine.rejected_row", "file_id", "ops.landing_file"),
    ("core.venue", "source_file_id", "ops.landing_file"),
    ("core.identity_link", "first_seen_file_id", "ops.landing_file"),
]


def _world(url: str) -> int:
    """Facility 10001, a landing file; its file_id."""
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(
                "insert into ops.facility (facility_code, name, facility_type, province_code, registry_sha256)"
                " values ('10001', 'TYT A', 'commune_health_station', '17', repeat('0', 64)),"
                " ('10002', 'TYT B', 'commune_health_station', '17', repeat('0', 64))"
            )
            cur.execute(
                "insert into ops.landing_file (sha256, relative_path, original_name, size_bytes, received_at)"
                " values (repeat('a', 64), 'facilities/10001/v.csv', 'v.csv', 1, now()) returning file_id"
            )
            return cur.fetchone()[0]
    finally:
        conn.close()


def _vaccination(file_id, key="r:1", facility="10001", product="Sputnik-V"):
    return (
        facility,
        key,
        "Nguyễn Văn A",
        "1990-01-01",
        "017090000001",
        "17",
        "148",
        "04789",
        product,
        "L1",
        1,
        "2021-10-01",
        file_id,
        1,
    )


def _insert_values(cur, rows):
    cur.executemany(
        f"insert into core.vaccination ({VACCINATION_COLUMNS}) values ({', '.join(['%s'] * 14)})", rows
    )


def _count(url: str, sql: str) -> int:
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchone()[0]
    finally:
        conn.close()


def test_no_per_row_foreign_key_remains_and_each_reference_has_its_statement_checks(warehouse_url):
    """The catalogue: none of the replaced foreign keys is left, and each table carries a statement-level
    check for INSERT and one for UPDATE naming the column and the table it references."""
    conn = psycopg2.connect(warehouse_url)
    try:
        with conn.cursor() as cur:
            for table, column, referenced in REFERENCES:
                cur.execute(
                    "select count(*) from pg_constraint where contype = 'f' and conrelid = %s::regclass"
                    " and %s = any(select attname from pg_attribute where attrelid = conrelid"
                    " and attnum = any(conkey))",
                    (table, column),
                )
                assert cur.fetchone()[0] == 0, f"{table}.{column} still has a per-row foreign key"
                cur.execute(
                    "select array_agg(pg_get_triggerdef(oid)) from pg_trigger"
                    " where tgrelid = %s::regclass and not tgisinternal",
                    (table,),
                )
                definitions = cur.fetchone()[0] or []
                for event in ("INSERT", "UPDATE"):
                    assert any(
                        f"AFTER {event} ON {table}" in d
                        and "FOR EACH STATEMENT" in d
                        and "REFERENCING NEW TABLE AS new_rows" in d
                        and f"'{column}', '{referenced}'" in d
                        for d in definitions
                    ), (table, column, event, definitions)
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("column", "bad"),
    [("facility_code", "99999"), ("vaccine_code", "Sputnik-Z"), ("source_file_id", 424242)],
)
@pytest.mark.parametrize("how", ["values", "insert_select", "copy", "update", "on_conflict_update"])
def test_a_vaccination_with_an_unknown_reference_never_reaches_core(warehouse_url, column, bad, how):
    file_id = _world(warehouse_url)
    index = {"facility_code": 0, "vaccine_code": 8, "source_file_id": 12}[column]
    conn = psycopg2.connect(warehouse_url)
    try:
        with conn, conn.cursor() as cur:  # a known row first (the update cases change it)
            _insert_values(cur, [_vaccination(file_id, key="r:0")])
        good = [_vaccination(file_id, key=f"r:{n}") for n in range(1, 50)]
        bad_row = list(_vaccination(file_id, key="r:bad"))
        bad_row[index] = bad
        with pytest.raises(psycopg2.errors.ForeignKeyViolation) as caught, conn, conn.cursor() as cur:
            if how == "values":
                _insert_values(cur, [*good, tuple(bad_row)])
            elif how == "insert_select":
                cur.execute("create temp table incoming as select * from core.vaccination where false")
                for row in [*good, tuple(bad_row)]:
                    cur.execute(
                        f"insert into incoming ({VACCINATION_COLUMNS}) values ({', '.join(['%s'] * 14)})", row
                    )
                cur.execute(
                    f"insert into core.vaccination ({VACCINATION_COLUMNS})"
                    f" select {VACCINATION_COLUMNS} from incoming"
                )
            elif how == "copy":
                text = "".join("\t".join(str(v) for v in row) + "\n" for row in [*good, tuple(bad_row)])
                cur.copy_expert(
                    f"copy core.vaccination ({VACCINATION_COLUMNS}) from stdin", io.StringIO(text)
                )
            elif how == "update":
                cur.execute(f"update core.vaccination set {column} = %s where record_key = 'r:0'", (bad,))
            else:  # an upsert whose update sets the unknown value
                cur.execute(
                    f"insert into core.vaccination ({VACCINATION_COLUMNS}) values ({', '.join(['%s'] * 14)})"
                    f" on conflict (facility_code, record_key) do update set {column} = %s",
                    (*_vaccination(file_id, key="r:0"), bad),
                )
        assert caught.value.pgcode == "23503"
        assert f"Key ({column})=({bad})" in caught.value.pgerror, caught.value.pgerror
        assert _count(warehouse_url, "select count(*) from core.vaccination") == 1
        assert (
            _count(warehouse_url, f"select count(*) from core.vaccination where {column}::text = '{bad}'")
            == 0
        )
    finally:
        conn.close()


def test_known_references_load_and_a_null_reference_is_left_to_not_null(warehouse_url):
    file_id = _world(warehouse_url)
    conn = psycopg2.connect(warehouse_url)
    try:
        with conn, conn.cursor() as cur:
            _insert_values(
                cur, [_vaccination(file_id, key=f"r:{n}", facility=f"1000{1 + n % 2}") for n in range(20)]
            )
            cur.execute("update core.vaccination set lot_number = 'L2'")
        assert _count(warehouse_url, "select count(*) from core.vaccination where lot_number = 'L2'") == 20
        row = list(_vaccination(file_id, key="r:null"))
        row[0] = None
        with pytest.raises(psycopg2.errors.NotNullViolation), conn, conn.cursor() as cur:
            _insert_values(cur, [tuple(row)])
    finally:
        conn.close()


@pytest.mark.parametrize(("table", "column", "referenced"), REFERENCES)
def test_every_replaced_reference_refuses_an_unknown_value(warehouse_url, table, column, referenced):
    """Each table of the list, written as the ingest writes it, refuses a row whose reference is unknown;
    the same row with the known value loads."""
    file_id = _world(warehouse_url)
    rows = {
        "core.vaccination": (VACCINATION_COLUMNS, _vaccination(file_id)),
        "core.vaccination_history": (
            VACCINATION_COLUMNS
            + ", vaccination_id, birth_year_only, warnings, loaded_at, replaced_by_file_id",
            (*_vaccination(file_id), 1, False, "{}", "2021-10-02T00:00:00Z", file_id),
        ),
        "core.test_result": (
            "facility_code, record_key, sample_id, full_name, date_of_birth, citizen_id, province_code,"
            " district_code, commune_code, test_type, sampled_at, result, resulted_at, source_file_id, source_row",
            (
                "10001",
                "r:1",
                "S1",
                "A",
                "1990-01-01",
                "017090000001",
                "17",
                "148",
                "04789",
                "RT-PCR",
                "2021-10-01T08:00:00Z",
                "negative",
                "2021-10-01T18:00:00Z",
                file_id,
                1,
            ),
        ),
        "core.test_result_history": (
            "test_result_id, facility_code, record_key, sample_id, full_name, date_of_birth, citizen_id,"
            " province_code, district_code, commune_code, test_type, sampled_at, result, resulted_at,"
            " source_file_id, source_row, birth_year_only, pooled, warnings, loaded_at, replaced_by_file_id",
            (
                1,
                "10001",
                "r:1",
                "S1",
                "A",
                "1990-01-01",
                "017090000001",
                "17",
                "148",
                "04789",
                "RT-PCR",
                "2021-10-01T08:00:00Z",
                "negative",
                "2021-10-01T18:00:00Z",
                file_id,
                1,
                False,
                False,
                "{}",
                "2021-10-02T00:00:00Z",
                file_id,
            ),
        ),
        "quarantine.row_problem": (
            "file_id, row_number, column_name, code, severity",
            (file_id, 1, "citizen_id", "missing_required", "error"),
        ),
        "quarantine.rejected_row": ("file_id, row_number, raw", (file_id, 1, "{}")),
        "core.venue": ("venue_code, source_file_id, source_row", ("V1", file_id, 1)),
        "core.identity_link": (
            "citizen_id, other_kind, other_value, source, first_seen_file_id",
            ("017090000001", "cmnd", "123456789", "cccd_qr", file_id),
        ),
    }
    columns, good = rows[table]
    names = [c.strip() for c in columns.split(",")]
    bad = list(good)
    bad[names.index(column)] = 987654 if column.endswith("file_id") else "no_such_value"
    conn = psycopg2.connect(warehouse_url)
    placeholders = ", ".join(["%s"] * len(names))
    try:
        with pytest.raises(psycopg2.errors.ForeignKeyViolation), conn, conn.cursor() as cur:
            cur.execute(f"insert into {table} ({columns}) values ({placeholders})", bad)
        assert _count(warehouse_url, f"select count(*) from {table}") == 0
        with conn, conn.cursor() as cur:
            cur.execute(f"insert into {table} ({columns}) values ({placeholders})", good)
        assert _count(warehouse_url, f"select count(*) from {table}") == 1
        # and the referenced row it names can no longer go
        key = {
            "ops.facility": "facility_code",
            "core.vaccine_product": "product_code",
            "ops.landing_file": "file_id",
            "ops.row_code": "code",
        }[referenced]
        with pytest.raises(psycopg2.errors.ForeignKeyViolation), conn, conn.cursor() as cur:
            cur.execute(f"delete from {referenced} where {key} = %s", (good[names.index(column)],))
    finally:
        conn.close()


def test_a_referenced_facility_cannot_be_deleted_rekeyed_or_truncated(warehouse_url):
    file_id = _world(warehouse_url)
    conn = psycopg2.connect(warehouse_url)
    try:
        with conn, conn.cursor() as cur:
            _insert_values(cur, [_vaccination(file_id)])
        for statement in (
            "delete from ops.facility where facility_code = '10001'",
            "delete from ops.facility",
            "update ops.facility set facility_code = '10009' where facility_code = '10001'",
            "delete from core.vaccine_product where product_code = 'Sputnik-V'",
            "update core.vaccine_product set product_code = 'X' where product_code = 'Sputnik-V'",
            f"delete from ops.landing_file where file_id = {file_id}",
            f"update ops.landing_file set file_id = default where file_id = {file_id}",
        ):
            with pytest.raises(psycopg2.errors.ForeignKeyViolation), conn, conn.cursor() as cur:
                cur.execute(statement)
        for table in ("ops.facility", "core.vaccine_product"):
            with pytest.raises(psycopg2.errors.ForeignKeyViolation), conn, conn.cursor() as cur:
                cur.execute(f"truncate {table} cascade")
        # the facility nothing names goes; a change that keeps the key is fine
        with conn, conn.cursor() as cur:
            cur.execute("delete from ops.facility where facility_code = '10002'")
            cur.execute("update ops.facility set name = 'TYT A2', registry_sha256 = repeat('1', 64)")
            cur.execute(f"update ops.landing_file set status = 'merged' where file_id = {file_id}")
        assert _count(warehouse_url, "select count(*) from ops.facility") == 1
        # once its rows are gone, so can the facility
        with conn, conn.cursor() as cur:
            cur.execute("delete from core.vaccination")
            cur.execute("delete from ops.facility where facility_code = '10001'")
        assert _count(warehouse_url, "select count(*) from ops.facility") == 0
    finally:
        conn.close()


def _blocked(url: str, waiting_pid: int, holding_pid: int, thread: threading.Thread) -> bool:
    watcher = psycopg2.connect(url)
    watcher.autocommit = True
    try:
        deadline = time.monotonic() + 30
        with watcher.cursor() as cur:
            while thread.is_alive() and time.monotonic() < deadline:
                cur.execute("select %s = any(pg_blocking_pids(%s))", (holding_pid, waiting_pid))
                if cur.fetchone()[0]:
                    return True
                time.sleep(0.02)
        return False
    finally:
        watcher.close()


def _race(url: str, first: str, second: str, first_params=(), second_params=()):
    """``first`` runs in a transaction left open; ``second`` starts in another and must wait for it; then
    ``first`` commits. Returns the exception ``second`` ended with (or None)."""
    a = psycopg2.connect(url)
    b = psycopg2.connect(url)
    outcome: dict = {}
    try:
        with a.cursor() as cur:
            cur.execute(first, first_params)

        def run():
            try:
                with b, b.cursor() as cur:
                    cur.execute(second, second_params)
            except psycopg2.Error as exc:
                outcome["error"] = exc

        thread = threading.Thread(target=run)
        thread.start()
        waited = _blocked(url, b.get_backend_pid(), a.get_backend_pid(), thread)
        a.commit()
        thread.join(timeout=30)
        assert waited, "the second statement should wait for the first transaction"
        return outcome.get("error")
    finally:
        a.close()
        b.close()


def test_a_facility_deleted_while_a_load_names_it_waits_and_then_fails(warehouse_url):
    """As with a foreign key: the load's check locks the facility (FOR KEY SHARE); the delete waits for the
    load to commit and then finds the facility named."""
    file_id = _world(warehouse_url)
    error = _race(
        warehouse_url,
        f"insert into core.vaccination ({VACCINATION_COLUMNS}) values ({', '.join(['%s'] * 14)})",
        "delete from ops.facility where facility_code = '10001'",
        first_params=_vaccination(file_id),
    )
    assert isinstance(error, psycopg2.errors.ForeignKeyViolation), error
    assert _count(warehouse_url, "select count(*) from ops.facility where facility_code = '10001'") == 1
    assert _count(warehouse_url, "select count(*) from core.vaccination") == 1


def test_a_load_naming_a_facility_being_deleted_waits_and_then_fails(warehouse_url):
    file_id = _world(warehouse_url)
    error = _race(
        warehouse_url,
        "delete from ops.facility where facility_code = '10001'",
        f"insert into core.vaccination ({VACCINATION_COLUMNS}) values ({', '.join(['%s'] * 14)})",
        second_params=_vaccination(file_id),
    )
    assert isinstance(error, psycopg2.errors.ForeignKeyViolation), error
    assert _count(warehouse_url, "select count(*) from core.vaccination") == 0


def test_a_writer_with_insert_and_select_only_loads_as_with_a_foreign_key(warehouse_url):
    """A foreign key's checks run as the table's owner: a role that may insert into core.vaccination and read
    the referenced tables needs no more. So do the statement checks (FOR KEY SHARE would otherwise need
    UPDATE on ops.facility)."""
    import uuid

    file_id = _world(warehouse_url)
    role = f"dest_writer_{uuid.uuid4().hex[:12]}"
    conn = psycopg2.connect(warehouse_url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(f"create role {role} nologin")
            cur.execute(f"grant usage on schema core, ops to {role}")
            cur.execute(f"grant insert on core.vaccination to {role}")
            cur.execute(f"grant select on ops.facility, ops.landing_file, core.vaccine_product to {role}")
        with conn, conn.cursor() as cur:
            cur.execute(f"set local role {role}")
            _insert_values(cur, [_vaccination(file_id)])
        bad = list(_vaccination(file_id, key="r:2"))
        bad[0] = "99999"
        with pytest.raises(psycopg2.errors.ForeignKeyViolation), conn, conn.cursor() as cur:
            cur.execute(f"set local role {role}")
            _insert_values(cur, [tuple(bad)])
        assert _count(warehouse_url, "select count(*) from core.vaccination") == 1
    finally:
        with conn, conn.cursor() as cur:
            cur.execute(f"drop owned by {role}")
            cur.execute(f"drop role {role}")
        conn.close()
