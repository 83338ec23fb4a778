"""Publish by change (issue 19) on the generated sample: a week of daily status builds (incremental, as the
DAG runs them), each published; every release's content hash equals what the snapshot design (every row
recomputed from derived: tests/integration/publish_snapshot_design.sql, the statement of the former
sql/publish/release_row.sql) gives for the same data, each app's view hash equals the hash of its copy built
from the deltas, and an ordinary day stores only the persons whose rows changed. A last release, of the same statuses
95 days later, is changed by time alone (tests leave the 90-day history): the same equalities hold."""

from __future__ import annotations

import psycopg2
import publish_seed
import pytest
from publish_snapshot import _snapshot_content_sha256

from covidsync.publish import APPS, release, sync
from covidsync.status import build
from covidsync.status.synthetic import Synthetic


@pytest.fixture
def conn(warehouse_url):
    connection = psycopg2.connect(warehouse_url)
    yield connection
    connection.close()


def _apply(conn, app: str, copy: dict, since: int) -> dict:
    page = {"next_after": ""}
    while page["next_after"] is not None:
        page = sync.delta_page(conn, app, since=since, after=page["next_after"], limit=5000)
        for change in page["changes"]:
            if change["op"] == "delete":
                copy.pop(change["citizen_id"])
            else:
                copy[change["citizen_id"]] = change["row"]
    return page


def test_a_week_of_daily_releases_hashes_as_the_snapshot_design(conn, monkeypatch):
    monkeypatch.setenv("COVIDSYNC_PUBLISH_MAX_STATUS_CHANGE", "1.0")  # the generator's days change many cards
    monkeypatch.setenv("COVIDSYNC_PUBLISH_MIN_KEPT_SHARE", "0.5")
    data = Synthetic(seed=19, persons=250, days=7, venues=5, checkins_per_day=200)
    data.setup(conn)
    copies: dict[str, dict] = {app: {} for app in APPS}
    smaller = 0
    for i in range(data.days + 1):
        if i < data.days:
            data.load_day(conn, data.dates[i])
            build.build(conn, build.as_of_for(data.dates[i]), full=False)
        else:  # the statuses as they are, 95 days later: only time changes the rows (the 90-day histories)
            with conn.cursor() as cur:
                # the build's as_of (derived.status_as_of: build_state since issue 19's incremental status)
                cur.execute("update derived.build_state set as_of = as_of + interval '95 days'")
                cur.execute("update derived.health_status set as_of = as_of + interval '95 days'")
        conn.commit()
        result = release.publish_release(conn)
        assert result["status"] in ("current", "unchanged"), result
        release_id = release.current_release_id(conn)
        expected_count, expected_sha = _snapshot_content_sha256(conn)
        with conn.cursor() as cur:
            cur.execute(
                """
                select r.row_count, r.content_sha256, m.rows_added + m.rows_changed + m.rows_removed,
                       m.pccovid_sha256, m.vneid_sha256, m.sskdt_sha256
                from publish.release as r join publish.release_meta as m using (release_id)
                where r.release_id = %s
                """,
                (release_id,),
            )
            row_count, content_sha, changes, *view_shas = cur.fetchone()
            cur.execute("select count(*) from publish.release_version where valid_from = %s", (release_id,))
            stored = cur.fetchone()[0]
        conn.rollback()
        assert (row_count, content_sha) == (expected_count, expected_sha), f"step {i}: release {release_id}"
        assert stored == changes, "a release stores its changes (and tombstones), nothing more"
        if result["status"] == "current":
            since = release_id - 1 if i else 0
            for app, view_sha in zip(APPS, view_shas, strict=True):
                page = _apply(conn, app, copies[app], since)
                assert sync.view_sha256(app, copies[app].values()) == view_sha == page["view_sha256"], app
            if 0 < i < data.days:
                smaller += changes < row_count
    assert smaller >= data.days - 2, "ordinary days store fewer rows than a whole snapshot"
    assert release.current_release_id(conn) >= data.days + 1, (
        "the sample changes every day, and time alone too"
    )


def test_a_held_candidate_superseded_then_overridden_and_pruned_keeps_every_hash(conn, monkeypatch):
    """The paths the week does not take: a held candidate's versions taken out when a newer release supersedes
    it, the newer one overridden, and retention: every kept release still hashes as it did when published."""
    monkeypatch.setenv("COVIDSYNC_RELEASE_RETENTION", "2")
    publish_seed.seed(conn, 120, records=True)
    assert release.publish_release(conn)["status"] == "current"
    publish_seed.flip_cards(conn, every=3, offset=1)  # a mass change: held
    assert release.publish_release(conn)["status"] == "held"
    publish_seed.flip_cards(conn, every=7, offset=2)
    third = release.publish_release(conn)
    assert third["status"] == "held" and third["release_id"] == 3
    assert _snapshot_content_sha256(conn) == _stored(conn, 3)[:2], (
        "the held release 3 holds the data as it is now, built against release 1"
    )
    assert release.record_override(conn, 3, actor="ops", reason="a campaign of retests, checked")[
        "status"
    ] == ("current")
    with conn.cursor() as cur:
        cur.execute("select status from publish.release_meta order by release_id")
        assert [r[0] for r in cur.fetchall()] == ["superseded", "discarded", "current"]
        cur.execute("select count(*) from publish.release_version where valid_from = 2")
        assert cur.fetchone()[0] == 0, "the discarded candidate's versions are gone"
    conn.rollback()
    copy: dict = {}
    _apply(conn, "sskdt", copy, 0)  # a new copy of release 3
    copy1: dict = {}
    with conn, conn.cursor() as cur:
        release.switch_views(cur, 1)
    _apply(conn, "sskdt", copy1, 0)  # a copy of release 1, then its delta to 3
    with conn, conn.cursor() as cur:
        release.switch_views(cur, 3)
    page = _apply(conn, "sskdt", copy1, 1)
    assert copy1 == copy and sync.view_sha256("sskdt", copy.values()) == page["view_sha256"]
    publish_seed.flip_cards(conn, every=11, offset=3)
    assert release.publish_release(conn)["status"] == "current"
    publish_seed.flip_cards(conn, every=13, offset=4)
    assert release.publish_release(conn)["status"] == "current"
    before = {r: _stored(conn, r) for r in (4, 5)}
    assert release.prune(conn)["oldest_kept"] == 4
    for release_id, (count, content, *views) in before.items():
        with conn.cursor() as cur:
            hashes = release.release_hashes(cur, release_id)
        conn.rollback()
        assert (hashes["row_count"], hashes["content_sha256"]) == (count, content), release_id
        assert [hashes[f"{app}_sha256"] for app in APPS] == views, release_id
    assert _snapshot_content_sha256(conn) == before[5][:2]


def _stored(conn, release_id: int) -> tuple:
    with conn.cursor() as cur:
        cur.execute(
            """
            select r.row_count, r.content_sha256, m.pccovid_sha256, m.vneid_sha256, m.sskdt_sha256
            from publish.release as r join publish.release_meta as m using (release_id) where release_id = %s
            """,
            (release_id,),
        )
        row = cur.fetchone()
    conn.rollback()
    return row
