"""A day's release reads its persons' statuses by key, and the content hash walks the primary key instead of
sorting (issue 19, branch p8-day): the statement a day runs is the candidate with both substitutions (and
refuses a candidate where either fragment moved), and the content hash leaves the caller's sort setting as it
found it while giving the stored value. The values themselves are proved by the week of daily releases hashed
as the snapshot design (test_publish_by_change.py)."""

from __future__ import annotations

import psycopg2
import publish_seed
import pytest

from covidsync.publish import release


def test_the_day_candidate_reads_statuses_and_lines_by_key():
    text = release.sql("release_candidate")
    day = release._day_candidate_sql(text)
    assert release._DAY_STATUSES in day and release._SCOPED_STATUSES not in day
    assert release._DAY_LINES in day and release._STORED_LINES not in day
    # nothing else changed: undoing both substitutions gives the first release's statement back
    assert (
        day.replace(release._DAY_STATUSES, release._SCOPED_STATUSES).replace(
            release._DAY_LINES, release._STORED_LINES
        )
        == text
    )
    moved = text.replace(
        release._SCOPED_STATUSES, "and hs.person_id in (select person_id from publish_scope)"
    )
    with pytest.raises(release.PublishError, match="not where release.py expects it"):
        release._day_candidate_sql(moved)


@pytest.mark.parametrize("caller", ["on", "off"])
def test_the_content_hash_restores_the_sort_setting(warehouse_url, caller):
    conn = psycopg2.connect(warehouse_url)
    try:
        publish_seed.seed(conn, 60)
        assert release.publish_release(conn)["status"] == "current"
        publish_seed.flip_cards(conn, every=6, offset=1)
        assert release.publish_release(conn)["status"] == "current"
        with conn.cursor() as cur:
            cur.execute("select release_id, row_count, content_sha256 from publish.release where is_current")
            release_id, rows, content = cur.fetchone()
            cur.execute(f"set local enable_sort = {caller}")
            hashes = release.release_hashes(cur, release_id)
            assert (hashes["row_count"], hashes["content_sha256"]) == (rows, content)
            cur.execute("show enable_sort")
            assert cur.fetchone()[0] == caller
        conn.rollback()
    finally:
        conn.close()


@pytest.mark.parametrize("caller", ["on", "off"])
def test_the_agreement_by_change_reads_no_version_by_a_sequential_scan(warehouse_url, caller):
    """By change, the agreement finds the changed persons' versions by key even where the planner would scan
    every version (here made cheap: after a table was refilled with stale statistics, it tested 20,000 versions
    against the array of 1,000 changed CCCDs, 0.9 s; issue 20, branch p10-day), and leaves the caller's
    ``enable_seqscan`` as it found it."""
    conn = psycopg2.connect(warehouse_url)
    try:
        publish_seed.seed(conn, 60)
        assert release.publish_release(conn)["status"] == "current"
        publish_seed.flip_cards(conn, every=6, offset=1)
        assert release.publish_release(conn)["agreement_checked"] == "changed persons"
        with conn.cursor() as cur:
            cur.execute("set local random_page_cost = 1000")  # any index scan now looks dearer than a scan
            cur.execute(f"set local enable_seqscan = {caller}")
            scans = (
                "select seq_scan from pg_stat_xact_user_tables"
                " where schemaname = 'publish' and relname = 'release_version'"
            )
            cur.execute(scans)
            before = cur.fetchone()[0]
            check = release.check_agreement(cur, changed_in=2)
            assert check["ok"] and check["by_change"] and check["persons"] == 10, check
            cur.execute(scans)
            assert cur.fetchone()[0] == before
            cur.execute("show enable_seqscan")
            assert cur.fetchone()[0] == caller
            # the full check is not constrained (it reads every row anyway)
            assert release.check_agreement(cur)["ok"]
        conn.rollback()
    finally:
        conn.close()
