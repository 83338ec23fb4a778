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
