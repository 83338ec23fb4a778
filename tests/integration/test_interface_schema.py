"""The check-in and derived interfaces other stages build to: partitions by local day, pseudonymous keys."""

import datetime as dt

import psycopg2
import pytest


def test_checkin_lands_in_its_local_day_partition(warehouse_url):
    conn = psycopg2.connect(warehouse_url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(
                "insert into ops.landing_file (sha256, relative_path, original_name, size_bytes, received_at)"
                " values (repeat('a', 64), 'pccovid/checkins/x.csv', 'x.csv', 1, now()) returning file_id"
            )
            file_id = cur.fetchone()[0]
            for _ in range(2):  # idempotent
                cur.execute("select core.ensure_checkin_partition('2021-11-20')")
                assert cur.fetchone()[0] == "checkin_20211120"
            # 00:30 local on the 20th is 17:30 UTC on the 19th
            cur.execute(
                """
                insert into core.checkin (checkin_id, local_day, venue_code, scanned_at, person_kind, person_key,
                                          source_file_id, source_row)
                values ('c1', '2021-11-20', 'V1', '2021-11-19T17:30:00Z', 'cccd', repeat('b', 64), %s, 1)
                """,
                (file_id,),
            )
            cur.execute("select tableoid::regclass::text, local_day from core.checkin")
            assert cur.fetchone() == ("core.checkin_20211120", dt.date(2021, 11, 20))
        with pytest.raises(psycopg2.errors.CheckViolation), conn, conn.cursor() as cur:
            cur.execute(
                """
                insert into core.checkin (checkin_id, local_day, venue_code, scanned_at, person_kind, person_key,
                                          source_file_id, source_row)
                values ('c2', '2021-11-20', 'V1', '2021-11-20T17:30:00Z', 'cccd', repeat('b', 64), %s, 2)
                """,
                (file_id,),
            )
    finally:
        conn.close()


@pytest.mark.parametrize("table", ["core.checkin", "derived.person"])
@pytest.mark.parametrize(
    "key",
    [
        "b" * 63,
        "b" * 65,
        "B" * 64,
        "g" + "b" * 63,
        "b" * 63 + "\n",
        " " + "b" * 63,
        "b" * 32 + "é" + "b" * 31,
    ],
)
def test_person_keys_that_are_not_64_lowercase_hex_digits_are_refused(module_warehouse_url, table, key):
    """The cheap check (length + no character outside 0-9a-f) refuses what '^[0-9a-f]{64}$' refused.

    Reads the catalogue and evaluates expressions, writing nothing: one migrated warehouse serves all 14 cases."""
    conn = psycopg2.connect(module_warehouse_url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "select c.consrc from (select pg_get_constraintdef(oid) as consrc from pg_constraint"
                " where conrelid = %s::regclass and conname like '%%person_key_check') c",
                (table,),
            )
            (definition,) = cur.fetchone()
            # evaluate the table's own check on the value, and the old regex for comparison
            expression = definition.removeprefix("CHECK ").replace("person_key", "%(k)s::text")
            cur.execute(f"select {expression}, %(k)s ~ '^[0-9a-f]{{64}}$'", {"k": key})  # noqa: S608
            assert cur.fetchone() == (False, False)
            cur.execute(f"select {expression}", {"k": "0123456789abcdef" * 4})  # noqa: S608
            assert cur.fetchone() == (True,)
    finally:
        conn.close()
