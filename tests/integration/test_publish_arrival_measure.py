"""The Sổ SKĐT view's arrival measure (health-status contract §7, arrivals.md §2; migration 0028): a person
with an arrival whose measure is in force shows the measure and its last day, in that view only; a new arrival
notes the person (trigger on derived.arrival) and the next release changes their row alone; once as_of is past
the measure's last day the next release shows null, by the row's expiry alone (no input changed). Each release
hashes as the snapshot design does (tests/integration/publish_snapshot_design.sql) and as a copy built from the
deltas does."""

from __future__ import annotations

import datetime as dt

import psycopg2
import psycopg2.extras
import pytest
from arrivals_world import ArrivalWorld, at
from publish_snapshot import _snapshot_content_sha256

from covidsync.publish import APPS, release, sync
from covidsync.status import build

A, B = "001090000501", "001090000502"


@pytest.fixture
def world(warehouse_url):
    w = ArrivalWorld(warehouse_url)
    yield w
    w.close()


def _sskdt(conn) -> dict[str, tuple]:
    with conn.cursor() as cur:
        cur.execute(
            "select citizen_id, arrival_measure, arrival_measure_ends_on from publish.sskdt_health_status"
        )
        rows = {r[0]: r[1:] for r in cur.fetchall()}
    conn.rollback()
    return rows


def _publish_and_check(conn, copies: dict) -> tuple[int, set[str]]:
    """Publish; the release must be current, hash as the snapshot design, and each app's copy (from the
    delta) as its view hash. Returns the release and the CCCDs it stored (its delta)."""
    previous = release.current_release_id(conn) or 0
    result = release.publish_release(conn)
    assert result["status"] == "current", result
    release_id = result["release_id"]
    with conn.cursor() as cur:
        cur.execute(
            "select r.row_count, r.content_sha256, m.pccovid_sha256, m.vneid_sha256, m.sskdt_sha256"
            " from publish.release r join publish.release_meta m using (release_id) where release_id = %s",
            (release_id,),
        )
        count, content, *view_shas = cur.fetchone()
        cur.execute("select citizen_id from publish.release_version where valid_from = %s", (release_id,))
        stored = {r[0] for r in cur.fetchall()}
    conn.rollback()
    assert (count, content) == _snapshot_content_sha256(conn), "by change hashes as the snapshot design"
    for app, view_sha in zip(APPS, view_shas, strict=True):
        page = {"next_after": ""}
        while page["next_after"] is not None:
            page = sync.delta_page(conn, app, since=previous, after=page["next_after"], limit=5000)
            for change in page["changes"]:
                copies[app][change["citizen_id"]] = change["row"]
        assert sync.view_sha256(app, copies[app].values()) == view_sha, app
    return release_id, stored


def test_the_measure_shows_then_a_new_arrival_then_its_end(world, warehouse_url):
    world.checkpoint("CP01")
    world.risk_levels([("01", 4, "2021-11-01", None)])  # Hà Nội level 4: one dose, 14 days concentrated
    for cid in (A, B):
        world.vacc(cid, 1, "AZ", "2021-08-01")
    world.scan(A, at("2021-11-10", "09:00"), "CP01")
    world.declare(A, travel="2021-11-10")
    world.build("2021-11-20", full=True)
    conn = psycopg2.connect(warehouse_url)
    copies: dict[str, dict] = {app: {} for app in APPS}
    try:
        first, _ = _publish_and_check(conn, copies)
        rows = _sskdt(conn)
        assert rows[A] == ("concentrated_quarantine", dt.date(2021, 11, 23))
        assert rows[B] == (None, None)
        with conn.cursor() as cur:  # the other apps' views have no such column
            for view in ("pccovid_health_status", "vneid_health_status"):
                cur.execute(
                    "select count(*) from information_schema.columns where table_schema = 'publish'"
                    " and table_name = %s and column_name like 'arrival%%'",
                    (view,),
                )
                assert cur.fetchone()[0] == 0, view
        conn.rollback()
        assert copies["sskdt"][A]["arrival_measure"] == "concentrated_quarantine"
        assert copies["sskdt"][A]["arrival_measure_ends_on"] == "2021-11-23"
        assert "arrival_measure" not in copies["pccovid"][A] and "arrival_measure" not in copies["vneid"][A]

        # B declares an arrival: the arrivals build's insert notes B, and the next release changes B's row alone
        world.declare(B, travel="2021-11-20")
        world.build("2021-11-21")
        pending = {r[0] for r in world.sql("select person_id from publish.pending_person")}
        assert world.person_id("cccd", B) in pending
        second, stored = _publish_and_check(conn, copies)
        assert second == first + 1 and stored == {B}
        assert _sskdt(conn)[B] == ("concentrated_quarantine", dt.date(2021, 12, 3))
        assert _sskdt(conn)[A] == ("concentrated_quarantine", dt.date(2021, 11, 23))

        # time alone, no input changed (no trigger notes anyone): as of the end of 2021-11-22 (its local date
        # 2021-11-23, A's last day) A still shows the measure; as of the end of 11-23 A's row expires and changes
        for day, status in ((dt.date(2021, 11, 22), "unchanged"), (dt.date(2021, 11, 23), "current")):
            with conn, conn.cursor() as cur:
                cur.execute(
                    "update derived.build_state set as_of = %s", (build.as_of_for(day),)
                )  # the build's
                cur.execute("update derived.health_status set as_of = %s", (build.as_of_for(day),))
                cur.execute("select count(*) from publish.pending_person")
                assert cur.fetchone()[0] == 0
            if status == "unchanged":
                assert release.publish_release(conn)["status"] == "unchanged"
        third, stored = _publish_and_check(conn, copies)
        assert third == second + 1 and stored == {A}
        assert _sskdt(conn) == {A: (None, None), B: ("concentrated_quarantine", dt.date(2021, 12, 3))}
        assert copies["sskdt"][A]["arrival_measure"] is None
    finally:
        conn.close()
