"""The per-release passes cost what changed (issue 19, migration 0033): view hashes of recipe 2 kept up from the
previous release by the changed rows, the agreement check on the changed persons while the views are defined as
they were at the last full check, and as_of and the watermark from the status build's state."""

from __future__ import annotations

import hashlib

import psycopg2
import publish_seed
import pytest

from covidsync.publish import APPS, release, sync


@pytest.fixture
def conn(warehouse_url):
    connection = psycopg2.connect(warehouse_url)
    yield connection
    connection.close()


def _apply(conn, app: str, copy: dict, since: int) -> dict:
    page = {"next_after": ""}
    while page["next_after"] is not None:
        page = sync.delta_page(conn, app, since=since, after=page["next_after"], limit=40)
        for change in page["changes"]:
            if change["op"] == "delete":
                copy.pop(change["citizen_id"])
            else:
                copy[change["citizen_id"]] = change["row"]
    conn.rollback()
    return page


def _recipe_2(app: str, rows) -> str:
    """Recipe 2 as an app team would write it from docs/sync-api.md: the lines of recipe 1, each hashed, the
    hashes added as 256-bit numbers modulo 2^256, 64 hex digits."""
    total = 0
    for row in rows:
        fields = []
        for name in sync.FIELDS[app]:
            value = row.get(name)
            if isinstance(value, list):
                parts = sync.LIST_PARTS[(app, name)]
                value = ";".join(":".join(sync.canonical_value(item.get(p)) for p in parts) for item in value)
            fields.append(sync.canonical_value(value))
        line = "\t".join(fields) + "\n"
        total += int(hashlib.sha256(line.encode("utf-8")).hexdigest(), 16)
    return format(total % 2**256, "064x")


def _stored(conn, release_id: int) -> dict:
    with conn.cursor() as cur:
        cur.execute(
            "select hash_recipe, pccovid_sha256, vneid_sha256, sskdt_sha256 from publish.release_meta"
            " where release_id = %s",
            (release_id,),
        )
        recipe, *shas = cur.fetchone()
    conn.rollback()
    return {"recipe": recipe, **dict(zip(APPS, shas, strict=True))}


def test_copies_built_from_deltas_have_the_release_hash_and_a_drifted_copy_does_not(conn, monkeypatch):
    monkeypatch.setenv("COVIDSYNC_PUBLISH_MIN_KEPT_SHARE", "0.5")  # a small sample: one tombstone is 1 %
    publish_seed.seed(conn, 90, records=True)
    copies: dict[str, dict] = {app: {} for app in APPS}
    first = release.publish_release(conn)
    assert first["status"] == "current" and first["view_hashes_from"] == "every row"
    for app in APPS:
        _apply(conn, app, copies[app], 0)
    # three releases by change: cards flip (changed rows), a CCCD goes (a tombstone), a person comes (added)
    steps = [
        lambda: publish_seed.flip_cards(conn, every=15, offset=1),
        lambda: _run(conn, "update derived.person set citizen_id = null where person_id = 2"),
        lambda: publish_seed.seed(conn, 3, records=True),
    ]
    for release_id, step in enumerate(steps, start=2):
        step()
        result = release.publish_release(conn)
        assert result["status"] == "current" and result["release_id"] == release_id, result
        assert result["view_hashes_from"] == "changed rows"
        stored = _stored(conn, release_id)
        assert stored["recipe"] == 2
        with conn.cursor() as cur:
            full = release.release_hashes(cur, release_id)  # every row hashed again, not from the changes
            cur.execute("select count(*) from publish.release_version where valid_from = %s", (release_id,))
            changed = cur.fetchone()[0]
        conn.rollback()
        assert 0 < changed < 30, "a release by change stores its changes only"
        for app in APPS:
            page = _apply(conn, app, copies[app], release_id - 1)
            copy = copies[app].values()
            assert page["hash_recipe"] == 2
            assert stored[app] == full[f"{app}_sha256"] == page["view_sha256"], (release_id, app)
            assert sync.view_sha256(app, copy) == _recipe_2(app, copy) == stored[app], (release_id, app)
            assert sync.view_sha256(app, copy, recipe=1) != stored[app], "recipe 1 hashes otherwise"
    # a copy that drifted: one value changed, one row lost, one row kept that was removed
    for app in APPS:
        copy = copies[app]
        ack = sync.acknowledge(conn, app, 4, sync.view_sha256(app, copy.values()), 2)
        assert ack["hash_matches"] and ack["hash_recipe"] == 2
        someone = sorted(copy)[5]
        changed_value = {**copy, someone: {**copy[someone], "card_colour": "purple"}}
        lost_row = {k: v for k, v in copy.items() if k != someone}
        kept_removed = {**copy, "017000000002": {**copy[someone], "citizen_id": "017000000002"}}
        for drifted in (changed_value, lost_row, kept_removed):
            digest = sync.view_sha256(app, drifted.values())
            assert digest != _stored(conn, 4)[app]
            assert not sync.acknowledge(conn, app, 4, digest)["hash_matches"]
        # the right copy, said to be hashed with recipe 1: not in step (it hashes again with recipe 2)
        assert not sync.acknowledge(conn, app, 4, sync.view_sha256(app, copy.values()), 1)["hash_matches"]


def test_a_release_of_recipe_1_is_followed_by_one_hashed_in_full(conn):
    """The releases made before migration 0033 hold recipe-1 hashes: the next release cannot add its changes to
    them, and hashes every row; an app syncing to the old release still hashes its copy with recipe 1."""
    publish_seed.seed(conn, 60)
    assert release.publish_release(conn)["status"] == "current"
    copy: dict = {}
    _apply(conn, "vneid", copy, 0)
    with conn, conn.cursor() as cur:  # release 1 as migration 0033 found it
        cur.execute(
            "update publish.release_meta set hash_recipe = 1, pccovid_sha256 = %s, vneid_sha256 = %s,"
            " sskdt_sha256 = %s where release_id = 1",
            [sync.view_sha256("vneid", copy.values(), recipe=1)] * 3,
        )
    assert sync.current_release(conn, "vneid")["hash_recipe"] == 1
    assert sync.acknowledge(conn, "vneid", 1, sync.view_sha256("vneid", copy.values(), recipe=1))[
        "hash_matches"
    ]
    publish_seed.flip_cards(conn, every=12, offset=3)
    second = release.publish_release(conn)
    assert second["status"] == "current" and second["view_hashes_from"] == "every row"
    _apply(conn, "vneid", copy, 1)
    assert (
        _stored(conn, 2)["vneid"]
        == sync.view_sha256("vneid", copy.values())
        == _recipe_2("vneid", copy.values())
    )


def _run(conn, statement: str) -> None:
    with conn, conn.cursor() as cur:
        cur.execute(statement)


def _redefine(cur, view: str, *, person: str) -> None:
    """One view shows another card colour for one person (in the caller's transaction)."""
    cur.execute("select pg_get_viewdef(%s::regclass)", (f"publish.{view}",))
    definition = cur.fetchone()[0].rstrip().rstrip(";")
    replaced = definition.replace(
        "r.card_colour,",
        f"case when r.citizen_id = '{person}' then 'purple' else r.card_colour end as card_colour,",
        1,
    )
    assert replaced != definition
    cur.execute(f"create or replace view publish.{view} as {replaced}")


def test_the_agreement_check_reads_the_changed_persons_and_every_person_once_a_view_is_redefined(conn):
    publish_seed.seed(conn, 80)
    first = release.publish_release(conn)
    assert first["agreement_checked"] == "every person"
    publish_seed.flip_cards(conn, every=20, offset=1)  # persons 1, 21, 41, 61
    second = release.publish_release(conn)
    assert second["status"] == "current" and second["agreement_checked"] == "changed persons"
    changed, unchanged = "017000000021", "017000000022"
    with conn.cursor() as cur:
        check = release.check_agreement(cur, changed_in=2)
        assert check["ok"] and check["by_change"] and check["persons"] == 4, check
    conn.rollback()
    # by change, a disagreement on a person the release changed is found; one on a person it did not change is
    # not read at all: what makes that safe is that a redefined view is checked in full (below)
    for person, found in ((changed, True), (unchanged, False)):
        with conn.cursor() as cur:
            _redefine(cur, "sskdt_health_status", person=person)
            check = release.check_agreement(cur, changed_in=2)
            assert check["ok"] is not found and check["mismatches"] == int(found), (person, check)
            assert not release.check_agreement(cur)["ok"]
        conn.rollback()
    # a view redefined after the last full check: the next release checks every person, and is held
    with conn, conn.cursor() as cur:
        _redefine(cur, "vneid_health_status", person=unchanged)
    publish_seed.flip_cards(conn, every=20, offset=3)
    held = release.publish_release(conn)
    assert held["status"] == "held" and "views disagree on 1 of 72 persons" in held["failed"][0], held
    assert release.current_release_id(conn) == 2


def test_the_release_takes_as_of_and_watermark_from_the_status_build(conn):
    publish_seed.seed(conn, 30)
    with conn, conn.cursor() as cur:
        # a build's state: what the statuses hold as of, and when the build ended (after each row's computed_at)
        cur.execute(
            """
            insert into derived.build_state (rule_set, rule_set_version, as_of, mode, persons, touched, built_at)
            values ('hb-2021-11', 1, timestamptz '2021-11-21 06:00+07', 'full', 30, 30,
                    timestamptz '2021-11-21 06:30+07')
            """
        )
        cur.execute("update derived.health_status set computed_at = timestamptz '2021-11-21 06:10+07'")
    assert release.publish_release(conn)["status"] == "current"
    with conn.cursor() as cur:
        cur.execute(
            "select r.as_of = b.as_of, m.source_watermark = b.built_at"
            " from publish.release as r join publish.release_meta as m using (release_id)"
            " cross join derived.build_state as b"
        )
        assert cur.fetchone() == (True, True)
    conn.rollback()
    # the statuses of the rule set gone: nothing to publish, whatever the build's state says
    _run(conn, "delete from derived.health_status")
    result = release.publish_release(conn)
    assert result["status"] == "unchanged" and result["reason"].startswith("no health status"), result
