"""A merge leaves its core table with statistics the next file can be planned from: a table without
statistics is analysed once 50 rows changed (autovacuum's base threshold), and again when it has more than
doubled since (this test server, like some production ones, runs with autovacuum off). Real files, real
PostgreSQL."""

from __future__ import annotations

import psycopg2
from ingest_rows import REGISTRY, VACCINATION, ingest, write_csv


def statistics(url) -> tuple[float, int]:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            "select c.reltuples, coalesce(s.analyze_count, 0) from pg_class as c"
            " left join pg_stat_user_tables as s on s.relid = c.oid where c.oid = 'core.vaccination'::regclass"
        )
        return cur.fetchone()


def rows(prefix: str, n: int) -> list[dict]:
    return [
        {**VACCINATION, "Mã bản ghi": f"{prefix}{i}", "Số CCCD/CMND": f"0170900{i:05d}", "Số lô": "AZ0001"}
        for i in range(n)
    ]


def test_a_merge_analyses_its_table_once_the_changes_pass_the_threshold(warehouse_url, areas):
    (areas["landing"] / "registry").mkdir(parents=True)
    (areas["landing"] / "registry" / "facilities.csv").write_text(REGISTRY, encoding="utf-8")
    folder = areas["landing"] / "17001" / "vaccinations"
    write_csv(folder / "small.csv", rows("S", 10))
    [small] = ingest(warehouse_url, areas)
    assert small["rows_loaded"] == 10, small
    reltuples, analysed = statistics(warehouse_url)
    assert reltuples < 0 and analysed == 0  # 10 changed rows: under the threshold of 50, left alone

    write_csv(folder / "bigger.csv", rows("B", 200))
    [bigger] = ingest(warehouse_url, areas)
    assert bigger["rows_loaded"] == 200, bigger
    reltuples, analysed = statistics(warehouse_url)
    assert reltuples == 210 and analysed == 1  # no statistics and 200 rows changed: analysed

    write_csv(folder / "one_more.csv", rows("C", 20))
    ingest(warehouse_url, areas)
    assert statistics(warehouse_url) == (210, 1)  # statistics, and far from double the pages: not again


def test_a_first_load_by_the_direct_path_is_analysed_from_a_sample_that_still_plans_the_next_file(
    warehouse_url, areas
):
    """The direct path samples a table's first statistics at target 10 (3,000 rows, engine.FIRST_ANALYZE_TARGET):
    the row count stays right and the next file's statements keep their index plans."""
    import datetime as dt

    (areas["landing"] / "registry").mkdir(parents=True)
    (areas["landing"] / "registry" / "facilities.csv").write_text(REGISTRY, encoding="utf-8")
    days = [(dt.date(2021, 9, 1) + dt.timedelta(days=i % 60)).strftime("%d/%m/%Y") for i in range(6000)]
    first = [{**r, "Ngày tiêm": day} for r, day in zip(rows("F", 6000), days, strict=True)]
    write_csv(areas["landing"] / "17001" / "vaccinations" / "first.csv", first)
    [done] = ingest(warehouse_url, areas)
    assert done["rows_loaded"] == 6000, done
    reltuples, analysed = statistics(warehouse_url)
    assert analysed == 1 and abs(reltuples - 6000) <= 300, reltuples  # counted from the pages it sampled
    with psycopg2.connect(warehouse_url) as conn, conn.cursor() as cur:
        cur.execute(
            "select cardinality(histogram_bounds::text::text[]) from pg_stats"
            " where schemaname = 'core' and tablename = 'vaccination' and attname = 'vaccinated_on'"
        )
        assert cur.fetchone()[0] <= 11  # sampled at target 10 (more bounds at the server's 100)
        plans = []
        for statement in (
            # the next file's take-back, its lookup of the keys its facility already has, a facility's rows
            "delete from core.vaccination where source_file_id = 999",
            "select record_key from core.vaccination where facility_code = '17001' and record_key = any('{r:F1,r:X}')",
            "select count(*) from core.vaccination where facility_code = '17001' and vaccinated_on = '2021-09-02'",
        ):
            cur.execute(f"explain {statement}")
            plans.append("\n".join(r[0] for r in cur.fetchall()))
        conn.rollback()
    assert all("Seq Scan" not in plan for plan in plans[:2]), plans
    estimated = int(plans[2].split("rows=")[2].split()[0].rstrip(")"))  # the scan under the count
    assert 30 <= estimated <= 400, plans[2]  # 100 rows a day: estimated from the sampled statistics
