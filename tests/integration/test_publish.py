"""The publish layer against a real PostgreSQL: releases, deltas, the atomic switch, agreement, roles, retention."""

from __future__ import annotations

import threading
import time

import psycopg2
import publish_seed
import pytest

from covidsync.publish import release, sync


@pytest.fixture
def conn(warehouse_url):
    connection = psycopg2.connect(warehouse_url)
    yield connection
    connection.close()


def _count(conn, sql, *params):
    with conn.cursor() as cur:
        cur.execute(sql, params)
        value = cur.fetchone()[0]
    conn.rollback()
    return value


def _view(conn, view):
    with conn.cursor() as cur:
        cur.execute(f"select * from publish.{view} order by citizen_id")
        names = [d.name for d in cur.description]
        rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    conn.rollback()
    return rows


def test_first_release_publishes_persons_with_a_cccd_in_both_views(conn):
    published = publish_seed.seed(conn, 60)
    result = release.publish_release(conn)
    assert result["status"] == "current" and result["release_id"] == 1
    assert result["row_count"] == published == 54  # every tenth person has no CCCD
    pcc, vne = _view(conn, "pccovid_health_status"), _view(conn, "vneid_health_status")
    assert len(pcc) == len(vne) == published
    assert {r["release_id"] for r in pcc} == {r["release_id"] for r in vne} == {1}
    with conn.cursor() as cur:
        cur.execute("select row_count, is_current, views_agree, agreement_mismatches from publish.release")
        assert cur.fetchall() == [(54, True, True, 0)]
        cur.execute("select rows_added, status, source_watermark is not null from publish.release_meta")
        assert cur.fetchall() == [(54, "current", True)]
    conn.rollback()
    two = next(r for r in vne if r["doses"] == 2)
    assert [d["dose"] for d in two["vaccination_certificate"]] == [1, 2]
    assert two["vaccination_certificate"][0]["product"] in {"AstraZeneca", "Pfizer-BioNTech", "Vero Cell"}


def test_publishing_twice_with_no_change_makes_no_release(conn):
    publish_seed.seed(conn, 30)
    assert release.publish_release(conn)["status"] == "current"
    again = release.publish_release(conn)
    assert again == {**again, "status": "unchanged", "release_id": None, "current_release_id": 1}
    assert _count(conn, "select count(*) from publish.release") == 1
    # a later as_of with the same statuses is no change either (hashes exclude the release-level as_of)
    with conn, conn.cursor() as cur:
        cur.execute("update derived.health_status set as_of = as_of + interval '1 day'")
    assert release.publish_release(conn)["status"] == "unchanged"


def _copy(conn, release_id):
    with conn.cursor() as cur:
        cur.execute(
            "select citizen_id, row_sha256 from publish.release_row where release_id = %s", (release_id,)
        )
        rows = dict(cur.fetchall())
    conn.rollback()
    return rows


def test_deltas_from_n_to_n_plus_3_rebuild_n_plus_3_exactly(conn, monkeypatch):
    monkeypatch.setenv("COVIDSYNC_PUBLISH_MIN_KEPT_SHARE", "0.95")  # one removal in 72 is meant here
    publish_seed.seed(conn, 80)
    assert release.publish_release(conn)["status"] == "current" and release.current_release_id(conn) == 1
    copy = {c["citizen_id"]: c["row"] for c in sync.delta_page(conn, "vneid", since=0, limit=5000)["changes"]}
    # release 2: some statuses change; release 3: persons removed and added; release 4: more changes
    publish_seed.flip_cards(conn, every=13, offset=1)
    assert release.publish_release(conn)["status"] == "current" and release.current_release_id(conn) == 2
    with conn, conn.cursor() as cur:
        cur.execute("delete from derived.health_status where person_id = 7")
        cur.execute(
            "update derived.person set citizen_id = '099999999999' where person_id = 10"
        )  # newly known
    publish_seed.seed(conn, 5)
    assert release.publish_release(conn)["status"] == "current" and release.current_release_id(conn) == 3
    with conn, conn.cursor() as cur:
        cur.execute("update derived.person set full_name = 'Đặng Thị Ánh' where person_id = 3")
    publish_seed.flip_cards(conn, every=17, offset=2)
    assert release.publish_release(conn)["status"] == "current" and release.current_release_id(conn) == 4
    with conn.cursor() as cur:
        cur.execute("select change, count(*) from publish.release_delta where release_id = 3 group by 1")
        assert dict(cur.fetchall()) == {"added": 6, "removed": 1}
    conn.rollback()
    # small pages, to prove the cursor
    after, pages = "", 0
    while True:
        page = sync.delta_page(conn, "vneid", since=1, after=after, limit=3)
        pages += 1
        for change in page["changes"]:
            if change["op"] == "delete":
                copy.pop(change["citizen_id"])
            else:
                copy[change["row"]["citizen_id"]] = change["row"]
        after = page["next_after"]
        if after is None:
            break
    assert pages > 2 and page["release_id"] == 4
    assert sync.view_sha256("vneid", copy.values()) == page["view_sha256"]
    assert sorted(copy) == sorted(_copy(conn, 4))
    full = {
        c["row"]["citizen_id"]: c["row"]
        for c in sync.delta_page(conn, "vneid", since=0, limit=5000)["changes"]
    }
    assert copy == full


def test_a_reader_never_sees_the_views_on_different_releases(conn, warehouse_url):
    publish_seed.seed(conn, 400)
    release.publish_release(conn)
    publish_seed.flip_cards(conn, every=9, offset=1)
    assert release.publish_release(conn)["release_id"] == 2
    stop = threading.Event()
    seen: list[tuple] = []
    errors: list[BaseException] = []

    def reader():
        try:
            reader_conn = psycopg2.connect(warehouse_url)
            reader_conn.autocommit = True
            with reader_conn.cursor() as cur:
                while not stop.is_set():
                    # one statement, one snapshot: both views as an app reading both would see them
                    cur.execute(
                        """
                        select (select array_agg(distinct release_id) from publish.pccovid_health_status),
                               (select array_agg(distinct release_id) from publish.vneid_health_status)
                        """
                    )
                    seen.append(cur.fetchone())
            reader_conn.close()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    # switch until the reader has read many times while switches happen (a fixed number of switches left
    # that to the scheduler: 60 switches once ran while the reader read 18 times), within a deadline
    switches, deadline = 0, time.monotonic() + 60
    try:
        while (switches < 60 or len(seen) < 40) and not errors and time.monotonic() < deadline:
            with conn, conn.cursor() as cur:
                release.switch_views(cur, 1 + switches % 2)
            switches += 1
    finally:
        stop.set()
        thread.join(30)
    assert not errors
    assert len(seen) >= 40, f"{len(seen)} reads during {switches} switches"
    assert all(p is not None and len(p) == 1 and p == v for p, v in seen), [s for s in seen if s[0] != s[1]][
        :3
    ]
    assert {p[0] for p, _ in seen} == {1, 2}, "the reader saw both releases, each whole"


def test_a_corrupted_view_is_caught_by_the_agreement_check_and_holds_the_release(conn):
    publish_seed.seed(conn, 50)
    release.publish_release(conn)
    with conn, conn.cursor() as cur:
        assert release.check_agreement(cur)["ok"]
        # someone edits one view: VNeID now shows yellow where the release says red
        cur.execute(
            """
            create or replace view publish.vneid_health_status as
            select r.release_id, r.citizen_id, r.doses, r.last_dose_on, r.last_dose_product, r.fully_vaccinated,
                   case when r.card_colour = 'red' then 'yellow' else r.card_colour end as card_colour,
                   r.latest_test_type, r.latest_test_result, r.latest_test_sampled_at, r.f0, c.as_of,
                   r.full_name, r.date_of_birth, r.vaccination_certificate
            from publish.release_row as r
            inner join publish.release as c on r.release_id = c.release_id and c.is_current
            """
        )
    with conn.cursor() as cur:
        check = release.check_agreement(cur)
    conn.rollback()
    assert not check["ok"] and check["mismatches"] > 0
    publish_seed.flip_cards(conn, every=50, offset=1)
    result = release.publish_release(conn)
    assert result["status"] == "held" and "disagree" in result["failed"][0]
    with conn.cursor() as cur:
        cur.execute(
            "select release_id, is_current, views_agree, agreement_mismatches > 0 from publish.release order by 1"
        )
        assert cur.fetchall() == [(1, True, True, False), (2, False, False, True)]
        cur.execute("select kind, subject from ops.alert where resolved_at is null")
        assert cur.fetchall() == [("publish_held", "release 2")]
    conn.rollback()


def test_a_mass_change_is_held_until_an_override_is_recorded(conn):
    publish_seed.seed(conn, 100)
    release.publish_release(conn)
    publish_seed.flip_cards(conn, every=3, offset=1)  # a third of the persons turn red: over the 20 % limit
    held = release.publish_release(conn)
    assert held["status"] == "held" and "mass change" in held["failed"][0]
    assert release.current_release_id(conn) == 1
    assert release.publish_release(conn)["status"] == "unchanged", (
        "the same held content is not a new release"
    )
    with pytest.raises(release.PublishError, match="reason"):
        release.record_override(conn, 2, actor="ops", reason="ok")
    done = release.record_override(
        conn, 2, actor="duty-engineer", reason="province-wide retest campaign, checked"
    )
    assert done["status"] == "current" and release.current_release_id(conn) == 2
    assert (
        _count(conn, "select count(*) from ops.alert where kind = 'publish_held' and resolved_at is null")
        == 0
    )
    assert _count(conn, "select count(*) from publish.release_override where release_id = 2") == 1


def test_an_incomplete_release_is_held(conn):
    publish_seed.seed(conn, 100)
    release.publish_release(conn)
    with conn, conn.cursor() as cur:
        cur.execute("delete from derived.health_status where person_id > 90")
    result = release.publish_release(conn)
    assert result["status"] == "held" and "incomplete" in result["failed"][0]
    assert release.current_release_id(conn) == 1


def test_each_role_reads_only_what_it_may(conn):
    publish_seed.seed(conn, 20)
    release.publish_release(conn)
    with conn, conn.cursor() as cur:
        cur.execute("create table mart.daily_cards (day date, cards integer)")  # as the marts' builder would
    allowed = {
        "pccovid_reader": "publish.pccovid_health_status",
        "vneid_reader": "publish.vneid_health_status",
        "sskdt_reader": "publish.sskdt_health_status",
        "bi_reader": "mart.daily_cards",
    }
    relations = [  # every view, the release tables, core, derived and the marts
        *allowed.values(),
        "publish.release_row",
        "publish.release",
        "publish.release_meta",
        "publish.release_delta",
        "publish.app_ack",
        "derived.person",
        "derived.health_status",
        "derived.vaccination_dose",
        "core.vaccination",
        "core.test_result",
        "core.checkin",
        "mart.vaccination_coverage",
    ]
    for role, own in allowed.items():
        for relation in relations:
            with conn.cursor() as cur:
                cur.execute(f"set role {role}")
                if relation == own or (role == "bi_reader" and relation.startswith("mart.")):
                    cur.execute(f"select count(*) from {relation}")
                else:
                    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                        cur.execute(f"select count(*) from {relation}")
            conn.rollback()


def test_roles_migration_block_is_idempotent_on_a_server_with_other_databases(warehouse_url):
    from pathlib import Path

    migration = Path(__file__).resolve().parents[2] / "sql" / "migrations" / "0009_publish.sql"
    block = migration.read_text().split("do $$", 1)[1].split("$$;", 1)[0]
    conn = psycopg2.connect(warehouse_url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("do $$" + block + "$$;")  # the roles exist already (another database made them)
            cur.execute(
                "select count(*) from pg_roles where rolname in ('pccovid_reader', 'vneid_reader', 'bi_reader')"
            )
            assert cur.fetchone()[0] == 3
    finally:
        conn.close()


def test_retention_keeps_k_releases_and_deltas_for_apps_within_k(conn, monkeypatch):
    monkeypatch.setenv("COVIDSYNC_RELEASE_RETENTION", "3")
    publish_seed.seed(conn, 60)
    release.publish_release(conn)
    for i in range(4):
        publish_seed.flip_cards(conn, every=29, offset=1 + i)
        assert release.publish_release(conn)["status"] == "current"
    assert release.prune(conn) == {"pruned": 2, "oldest_kept": 3}
    assert _count(conn, "select count(distinct release_id) from publish.release_row") == 3
    assert _count(conn, "select count(*) from publish.release") == 5, "release history stays"
    with pytest.raises(sync.Gone):
        sync.delta_page(conn, "pccovid", since=1)
    for since in (2, 3, 4):  # an app on a kept release, or on the one before the oldest kept
        page = sync.delta_page(conn, "pccovid", since=since, limit=5000)
        assert page["release_id"] == 5
    assert release.prune(conn) == {"pruned": 0, "oldest_kept": 3}
