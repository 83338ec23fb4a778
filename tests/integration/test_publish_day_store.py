"""A day's release reads no version twice (issue 19, branch p14-day): the changes' statement (release_diff.sql)
keeps where it found each replaced version (old_ctid) and that version's line hashes (old_line_sha256), so that
the store closes the versions without finding them again by their key, and the view hashes are added up from
the changes alone; a version a held candidate's undo wrote anew is still closed (by its key), and every hash is
the one of every row. The values across a week of days are proved by test_publish_by_change.py."""

from __future__ import annotations

import psycopg2
import publish_seed
import pytest

from covidsync.publish import APPS, release


@pytest.fixture
def conn(warehouse_url):
    connection = psycopg2.connect(warehouse_url)
    yield connection
    connection.close()


def _open_versions_per_citizen(conn) -> int:
    with conn.cursor() as cur:
        cur.execute(
            "select coalesce(max(n), 0) from (select count(*) as n from publish.release_version"
            " where valid_to is null group by citizen_id) as o"
        )
        most = cur.fetchone()[0]
    conn.rollback()
    return most


def _every_row(conn, release_id: int) -> tuple[tuple, tuple]:
    """The release's stored hashes, and those of every row (release_hashes without a shortcut)."""
    with conn.cursor() as cur:
        cur.execute(
            """
            select r.row_count, r.content_sha256, m.pccovid_sha256, m.vneid_sha256, m.sskdt_sha256
            from publish.release as r join publish.release_meta as m using (release_id) where release_id = %s
            """,
            (release_id,),
        )
        stored = cur.fetchone()
        hashes = release.release_hashes(cur, release_id)
    conn.rollback()
    return stored, (hashes["row_count"], hashes["content_sha256"], *(hashes[f"{a}_sha256"] for a in APPS))


def test_a_day_closes_the_replaced_versions_without_probing_their_key(conn, monkeypatch):
    """The store's close reads the versions where the changes found them (a TID scan): the primary key of the
    versions is not scanned by the store at all (before, one probe per changed CCCD), and the view hashes come
    from the changes (the same values as every row's)."""
    publish_seed.seed(conn, 120, records=True)
    assert release.publish_release(conn)["status"] == "current"
    publish_seed.flip_cards(conn, every=12, offset=5)
    with conn, conn.cursor() as cur:
        cur.execute("create table public.store_scans (at text, scans bigint)")
    scans = (
        "insert into public.store_scans"
        " select '{at}', pg_stat_get_xact_numscans('publish.release_version_pkey'::regclass);\n"
    )
    store = release.sql("release_store_versions")
    real_sql = release.sql

    def sql(name: str) -> str:  # the store's statements between two readings of the primary key's scans
        if name == "release_store_versions":
            return scans.format(at="before") + store + "\n" + scans.format(at="after")
        return real_sql(name)

    monkeypatch.setattr(release, "sql", sql)
    day = release.publish_release(conn)
    assert day["status"] == "current" and day["view_hashes_from"] == "changed rows", day
    with conn.cursor() as cur:
        cur.execute("select at, scans from public.store_scans")
        counts = dict(cur.fetchall())
        cur.execute("select count(*) from publish.release_version where valid_to = 2")
        closed = cur.fetchone()[0]
    conn.rollback()
    assert closed == 10, "the day replaced the versions of its 10 persons (every 12th; none without a CCCD)"
    assert counts["after"] == counts["before"], counts
    assert _open_versions_per_citizen(conn) == 1
    stored, every_row = _every_row(conn, 2)
    assert stored == every_row


def test_a_version_the_undo_wrote_anew_is_closed_by_its_key(conn):
    """A release superseding a held candidate takes the candidate's versions out after its changes were found:
    the versions the candidate had closed are reopened, written anew elsewhere, so the changes' ctid no longer
    points at them. They are closed by their key: one open version per CCCD, and every hash as of every row."""
    publish_seed.seed(conn, 120, records=True)
    assert release.publish_release(conn)["status"] == "current"
    publish_seed.flip_cards(conn, every=3, offset=1)  # a mass change: held
    assert release.publish_release(conn)["status"] == "held"
    publish_seed.flip_cards(conn, every=7, offset=2)
    third = release.publish_release(conn)
    assert third["status"] == "held" and third["release_id"] == 3
    assert _open_versions_per_citizen(conn) == 1
    assert release.record_override(conn, 3, actor="ops", reason="a campaign of retests, checked")[
        "status"
    ] == ("current")
    publish_seed.flip_cards(conn, every=11, offset=3)
    assert release.publish_release(conn)["status"] == "current"
    assert _open_versions_per_citizen(conn) == 1
    for release_id in (3, 4):
        stored, every_row = _every_row(conn, release_id)
        assert stored == every_row, release_id
