"""The indexes of core.vaccination and core.test_result after migration 0029 (issue 16, the destination): each
reader's lookup still reaches its rows through an index, never by reading the whole table, and answers what a
full read answers — also the loaded_at BRIN after a resend wrote new rows into space freed by old ones; and the
merge writes a file's rows in the order of the unique key."""

from __future__ import annotations

import json

import psycopg2
import pytest

ROWS = 20_000

_WORLD = """
insert into ops.facility (facility_code, name, facility_type, province_code, registry_sha256)
values ('10001', 'TYT A', 'commune_health_station', '17', repeat('0', 64));
insert into ops.landing_file (sha256, relative_path, original_name, size_bytes, received_at)
select encode(sha256(g::text::bytea), 'hex'), 'f' || g, 'f' || g, 1, now() from generate_series(1, 40) as g;
insert into core.vaccination (
    facility_code, record_key, full_name, date_of_birth, citizen_id, phone, province_code, district_code,
    commune_code, vaccine_code, lot_number, dose_number, vaccinated_on, source_file_id, source_row, loaded_at
)
select '10001', 'r:' || g, 'Nguyễn Văn A', date '1980-01-01' + g %% 9000, lpad((g * 7919 %% 1000003)::text, 12, '0'),
       case when g %% 3 > 0 then '09' || lpad((g * 104729 %% 99999991)::text, 8, '0') end, '17', '148', '04789',
       (select min(product_code) from core.vaccine_product), 'L1', 1, date '2021-06-01' + g / 200,
       (select min(file_id) from ops.landing_file) + g * 40 / (%(rows)s + 1), g,
       timestamptz '2021-11-01 00:00+07' + (g * 40 / (%(rows)s + 1)) * interval '1 day'
from generate_series(1, %(rows)s) as g;
insert into core.test_result (
    facility_code, record_key, sample_id, full_name, date_of_birth, citizen_id, phone, province_code,
    district_code, commune_code, test_type, sampled_at, result, resulted_at, source_file_id, source_row, loaded_at
)
select facility_code, record_key, 's' || source_row, full_name, date_of_birth, citizen_id, phone, province_code,
       district_code, commune_code, 'antigen', vaccinated_on + time '08:00', 'negative',
       vaccinated_on + time '09:00', source_file_id, source_row, loaded_at
from core.vaccination;
"""

# (table, the reader's condition, the index it must use): sql/status, sql/ingest, covidsync.status.build
LOOKUPS = [
    ("core.vaccination", "citizen_id = '000000087109'", "vaccination_person"),
    ("core.vaccination", "phone = '0901152019'", "vaccination_phone"),
    ("core.vaccination", "loaded_at >= timestamptz '2021-12-10 00:00+07'", "vaccination_loaded_at"),
    (
        "core.vaccination",
        "vaccinated_on between date '2021-06-20' and date '2021-06-21'",
        "vaccination_vaccinated_on",
    ),
    (
        "core.vaccination",
        "source_file_id = (select max(file_id) from ops.landing_file)",
        "vaccination_source",
    ),
    (
        "core.vaccination",
        "facility_code = '10001' and record_key = 'r:77'",
        "vaccination_facility_code_record_key_key",
    ),
    ("core.test_result", "citizen_id = '000000087109'", "test_result_person"),
    ("core.test_result", "phone = '0901152019'", "test_result_phone"),
    ("core.test_result", "loaded_at >= timestamptz '2021-12-10 00:00+07'", "test_result_loaded_at"),
    (
        "core.test_result",
        "sampled_at >= timestamptz '2021-06-20 00:00+07' and sampled_at < '2021-06-21'",
        "test_result_sampled_at",
    ),
    (
        "core.test_result",
        "source_file_id = (select max(file_id) from ops.landing_file)",
        "test_result_source",
    ),
]


def _plan_nodes(plan: dict) -> list[dict]:
    out = [plan]
    for child in plan.get("Plans", []):
        out += _plan_nodes(child)
    return out


@pytest.fixture(scope="module")
def loaded(module_warehouse_url):
    conn = psycopg2.connect(module_warehouse_url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(_WORLD, {"rows": ROWS})
        # a resend: the first file's rows replaced, vacuum frees their space, the new versions (loaded now) reuse it
        cur.execute(
            "delete from core.vaccination where source_file_id = (select min(file_id) from ops.landing_file)"
            " and source_row % 2 = 0"
        )
        cur.execute("vacuum core.vaccination")
        cur.execute(
            "insert into core.vaccination (facility_code, record_key, full_name, date_of_birth, citizen_id, phone,"
            " province_code, district_code, commune_code, vaccine_code, lot_number, dose_number, vaccinated_on,"
            " source_file_id, source_row)"
            " select facility_code, record_key || ':again', full_name, date_of_birth, citizen_id, phone,"
            " province_code, district_code, commune_code, vaccine_code, lot_number, 2, vaccinated_on + 28,"
            " (select max(file_id) from ops.landing_file), source_row"
            " from core.vaccination where source_row <= 500"
        )
        cur.execute("vacuum analyze core.vaccination")
        cur.execute("vacuum analyze core.test_result")
    yield conn
    conn.close()


@pytest.mark.parametrize(("table", "condition", "index"), LOOKUPS)
def test_each_reader_reaches_its_rows_by_an_index_and_gets_what_a_full_read_gets(
    loaded, table, condition, index
):
    with loaded.cursor() as cur:
        cur.execute(f"explain (format json) select * from {table} where {condition}")  # noqa: S608
        nodes = _plan_nodes(cur.fetchone()[0][0]["Plan"])
        used = {n.get("Index Name") for n in nodes}
        scans = [n for n in nodes if n.get("Relation Name") == table.split(".")[1]]
        assert index in used, json.dumps([n["Node Type"] for n in nodes])
        assert all(n["Node Type"] != "Seq Scan" for n in scans)
        cur.execute(
            f"select count(*), md5(string_agg(t::text, '|' order by t::text)) from {table} as t where {condition}"
        )  # noqa: S608
        by_index = cur.fetchone()
        cur.execute("begin")
        cur.execute("set local enable_indexscan = off; set local enable_bitmapscan = off")
        cur.execute(
            f"select count(*), md5(string_agg(t::text, '|' order by t::text)) from {table} as t where {condition}"
        )  # noqa: S608
        by_reading_all = cur.fetchone()
        cur.execute("rollback")
    assert by_index == by_reading_all
    assert by_index[0] > 0


def test_the_new_versions_written_into_freed_space_are_found_as_loaded_since(loaded):
    with loaded.cursor() as cur:
        cur.execute(
            "select count(*) filter (where (ctid::text::point)[0] < (select max((ctid::text::point)[0])"
            " from core.vaccination where record_key not like '%:again')), count(*)"
            " from core.vaccination where record_key like '%:again'"
        )
        in_freed_space, again = cur.fetchone()
        cur.execute("select count(*) from core.vaccination where loaded_at >= now() - interval '1 hour'")
        assert cur.fetchone()[0] == again
    assert in_freed_space > 0, "the resend's rows went to the table's end: the case is not exercised"


def test_the_bench_floor_copies_the_indexes_as_they_stand(loaded):
    """bench.stages.copy_core_indexed creates its table LIKE the core table INCLUDING ALL: the same index
    methods, so the floor is the COPY into the table as this migration leaves it."""
    with loaded.cursor() as cur:
        cur.execute("begin")
        cur.execute("create temp table floor (like core.vaccination including all)")
        cur.execute(
            "select array_agg(a.amname order by a.amname) from pg_index as i"
            " inner join pg_class as c on i.indexrelid = c.oid inner join pg_am as a on c.relam = a.oid"
            " where i.indrelid = %s::regclass",
            ("floor",),
        )
        floor = cur.fetchone()[0]
        cur.execute(
            "select array_agg(a.amname order by a.amname) from pg_index as i"
            " inner join pg_class as c on i.indexrelid = c.oid inner join pg_am as a on c.relam = a.oid"
            " where i.indrelid = 'core.vaccination'::regclass"
        )
        core = cur.fetchone()[0]
        cur.execute("rollback")
    assert floor == core == ["brin", "btree", "btree", "btree", "btree", "hash", "hash"]


def test_the_merge_writes_a_file_in_the_order_of_its_unique_key(warehouse_url, areas, monkeypatch):
    """The rows of a file whose record ids come in no order are written in record_key order (the unique key's
    b-tree is appended at one edge): their ids follow the keys, not the file's rows."""
    from ingest_rows import REGISTRY, TEST_RESULT, VACCINATION, ingest, write_csv

    monkeypatch.setenv("COVIDSYNC_GX_DOCS", "0")
    (areas["landing"] / "registry").mkdir(parents=True)
    (areas["landing"] / "registry" / "facilities.csv").write_text(REGISTRY, encoding="utf-8")
    order = [7, 2, 9, 4, 1, 8, 3, 6, 5]
    for folder, row, person in (
        ("vaccinations", VACCINATION, "017090"),
        ("test_results", TEST_RESULT, "017185"),
    ):
        rows = [
            row | {"Mã bản ghi": f"R{n}", "Số CCCD/CMND": f"{person}{n:06d}", "Mã mẫu": f"S{n:04d}"}
            for n in order
        ]
        if folder == "vaccinations":
            rows = [{k: v for k, v in r.items() if k != "Mã mẫu"} for r in rows]
        write_csv(areas["landing"] / "17001" / folder / "shuffled.csv", rows)
    results = ingest(warehouse_url, areas)
    assert [r["status"] for r in results] == ["loaded", "loaded"], results
    conn = psycopg2.connect(warehouse_url)
    try:
        with conn.cursor() as cur:
            for table, key in (
                ("core.vaccination", "vaccination_id"),
                ("core.test_result", "test_result_id"),
            ):
                cur.execute(f"select record_key from {table} order by {key}")  # noqa: S608
                keys = [r[0] for r in cur.fetchall()]
                assert keys == sorted(f"r:R{n}" for n in order), (table, keys)
    finally:
        conn.close()
