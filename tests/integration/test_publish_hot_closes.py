"""A day's release closes the versions it replaces by HOT updates (issue 19, branch p17-day, migration 0089): the
versions' pages keep room for a closed copy, and no index names valid_to, so a close writes no index entry."""

from __future__ import annotations

import psycopg2
import publish_seed
import pytest

from covidsync.publish import release


@pytest.fixture
def conn(warehouse_url):
    connection = psycopg2.connect(warehouse_url)
    yield connection
    connection.close()


def test_a_day_closes_its_versions_by_hot_updates(conn, monkeypatch):
    publish_seed.seed(conn, 600, records=True)
    assert release.publish_release(conn)["status"] == "current"
    # every 30th person: at most one close on a page of about 14 versions (the 10 % left free holds one copy)
    publish_seed.flip_cards(conn, every=30, offset=5)
    with conn, conn.cursor() as cur:
        cur.execute("create table public.store_updates (updated bigint, hot bigint)")
    count = (
        "\ninsert into public.store_updates select"
        " pg_stat_get_xact_tuples_updated('publish.release_version'::regclass),"
        " pg_stat_get_xact_tuples_hot_updated('publish.release_version'::regclass);\n"
    )
    real_sql = release.sql
    monkeypatch.setattr(
        release,
        "sql",
        lambda name: real_sql(name) + count if name == "release_store_versions" else real_sql(name),
    )
    assert release.publish_release(conn)["status"] == "current"
    with conn.cursor() as cur:
        cur.execute("select updated, hot from public.store_updates")
        updated, hot = cur.fetchone()
        cur.execute("select count(*) from publish.release_version where valid_to = 2")
        closed = cur.fetchone()[0]
    conn.rollback()
    assert closed == 20, "every 30th of 600 persons, offset 5: none without a CCCD"
    assert updated == closed
    assert hot == closed, f"{hot} of {closed} closes were HOT updates"
