"""A first release vacuums the versions it stored once it has committed (issue 19, branch p17-day): the pages it
wrote are all-visible, and their rows marked committed, before the next day's release reads them (with autovacuum
off, the day's release was the first reader of every version page and wrote each one again). A day's release does
not vacuum: its pages are the few it wrote."""

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


def _pages(conn) -> tuple[int, int, int]:
    """The versions' heap pages (as the storage has them), those marked all-visible, and the vacuums counted."""
    with conn.cursor() as cur:
        cur.execute(
            """
            select pg_relation_size('publish.release_version') / current_setting('block_size')::int,
                   c.relallvisible, pg_stat_get_vacuum_count(c.oid)
            from pg_class as c where c.oid = 'publish.release_version'::regclass
            """
        )
        pages = cur.fetchone()
    conn.rollback()
    return pages


def _holders(conn) -> list[tuple]:
    """Other backends with a snapshot or an xid (their database and kind, no query text): a failure once seen
    under `make test`'s two halves and not reproduced alone is told apart from a vacuum that did not mark."""
    with conn.cursor() as cur:
        cur.execute(
            """
            select datname, backend_type, state, backend_xmin::text, backend_xid::text
            from pg_stat_activity
            where pid <> pg_backend_pid() and (backend_xmin is not null or backend_xid is not null)
            """
        )
        rows = cur.fetchall()
    conn.rollback()
    return rows


def test_a_first_release_leaves_its_versions_vacuumed(conn):
    publish_seed.seed(conn, 3000, records=True)
    before = _pages(conn)
    first = release.publish_release(conn)
    assert first["status"] == "current", first
    pages, all_visible, vacuums = _pages(conn)
    assert pages > 10, "the first release stored its 2,700 rows on many pages"
    assert vacuums == before[2] + 1, "the first release vacuumed its versions once"
    assert all_visible == pages, (
        f"{all_visible} of {pages} version pages all-visible after the first release; "
        f"snapshots that could hold the horizon back: {_holders(conn)}"
    )
    assert "vacuum versions" in release.STEP_SECONDS
    # the release is what it was: the views show it, and still in the same transaction as its switch
    with conn.cursor() as cur:
        cur.execute("select count(*) from publish.pccovid_health_status")
        assert cur.fetchone()[0] == 2700
    conn.rollback()

    publish_seed.flip_cards(conn, every=12, offset=5)
    day = release.publish_release(conn)
    assert day["status"] == "current", day
    assert _pages(conn)[2] == vacuums, "a day's release does not vacuum"
    assert "vacuum versions" not in release.STEP_SECONDS
