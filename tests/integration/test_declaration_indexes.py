"""core.declaration's indexes as migration 0041 leaves them (issue 24, throughput): no index on travel_date,
which no statement reads, and the person's declarations found by equality on person_key through a hash index,
as the arrivals build looks them up (a nested loop from its key map). Real PostgreSQL."""

from __future__ import annotations

import hashlib

import psycopg2


def _indexed_columns(cur) -> dict[str, tuple[str, list[str]]]:
    cur.execute(
        """
        select i.relname, am.amname, array_agg(a.attname order by k.ord)
        from pg_index as x
        join pg_class as i on i.oid = x.indexrelid
        join pg_am as am on am.oid = i.relam
        cross join lateral unnest(x.indkey) with ordinality as k (attnum, ord)
        join pg_attribute as a on a.attrelid = x.indrelid and a.attnum = k.attnum
        where x.indrelid = 'core.declaration'::regclass
        group by i.relname, am.amname
        """
    )
    return {name: (method, columns) for name, method, columns in cur.fetchall()}


def test_no_index_reads_the_travel_date_and_the_person_key_is_hashed(warehouse_url):
    with psycopg2.connect(warehouse_url) as conn, conn.cursor() as cur:
        indexes = _indexed_columns(cur)
        assert not [name for name, (_, columns) in indexes.items() if "travel_date" in columns], indexes
        assert indexes["declaration_person"] == ("hash", ["person_key"]), indexes


def test_the_arrivals_build_finds_a_persons_declarations_through_the_person_index(warehouse_url):
    keys = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(3)]
    with psycopg2.connect(warehouse_url) as conn, conn.cursor() as cur:
        cur.execute(
            "insert into ops.landing_file (sha256, relative_path, original_name, size_bytes, received_at)"
            " values (md5(random()::text) || md5(random()::text), 'pccovid/declarations/i.csv', 'i.csv', 1, now())"
            " returning file_id"
        )
        file_id = cur.fetchone()[0]
        cur.execute(
            "insert into core.declaration (app, declaration_id, kind, submitted_at, person_kind, person_key,"
            " source_file_id, source_row)"
            " select 'pccovid', 'I' || i, 'health', now(), 'cccd', encode(sha256(convert_to((i %% 20000)::text,"
            " 'UTF8')), 'hex'), %s, i from generate_series(1, 40000) as i",
            (file_id,),
        )
        cur.execute("analyze core.declaration")
        cur.execute("create temp table arr_map (raw_key text primary key) on commit drop")
        cur.execute("insert into arr_map values (%s), (%s), (%s)", keys)
        cur.execute("analyze arr_map")
        query = (
            "select m.raw_key, count(*) from arr_map as m"
            " inner join core.declaration as d on m.raw_key = d.person_key group by m.raw_key"
        )
        cur.execute("explain " + query)
        plan = "\n".join(r[0] for r in cur.fetchall())
        assert "declaration_person" in plan, plan
        cur.execute(query)
        assert sorted(cur.fetchall()) == sorted((k, 2) for k in keys)
