"""Each view's line hash computed once, by the status build (derived.person_line, migration 0035; issues 19 and
20): a release sums the stored lines' hashes of the rows it stores instead of hashing three lines per row, and a
stored line is used only for the row it was computed for. A card or a status that changes with no status build
in between (the stored line is then stale) gets its lines computed by the release: every release's view hashes
are those an app computes from its copy (recipe 2), and the next card step stores the new lines."""

from __future__ import annotations

import hashlib

import psycopg2
import publish_seed
import pytest
from publish_snapshot import _snapshot_content_sha256

from covidsync.publish import APPS, release, sync
from covidsync.status import cards

RULE_SET = "hb-2021-11"


@pytest.fixture
def conn(warehouse_url):
    connection = psycopg2.connect(warehouse_url)
    yield connection
    connection.close()


def _publish(conn) -> dict:
    result = release.publish_release(conn, rule_set=RULE_SET)
    assert result["status"] == "current", result
    stored = _one(
        conn,
        "select row_count, content_sha256 from publish.release where release_id = %s",
        (result["release_id"],),
    )
    assert stored == _snapshot_content_sha256(conn), "the release hashes as the snapshot design"
    return result


def _apply(conn, app: str, copy: dict, since: int) -> None:
    """An app's copy brought from release ``since`` to the current one by its delta pages."""
    page = {"next_after": ""}
    while page["next_after"] is not None:
        page = sync.delta_page(conn, app, since=since, after=page["next_after"], limit=40)
        for change in page["changes"]:
            if change["op"] == "delete":
                copy.pop(change["citizen_id"])
            else:
                copy[change["citizen_id"]] = change["row"]
    conn.rollback()


def _recipe_2(app: str, rows) -> str:
    """Recipe 2 as an app computes it from docs/sync-api.md: each line's SHA-256, added modulo 2^256."""
    total = 0
    for row in rows:
        fields = []
        for name in sync.FIELDS[app]:
            value = row.get(name)
            if isinstance(value, list):
                parts = sync.LIST_PARTS[(app, name)]
                value = ";".join(":".join(sync.canonical_value(item.get(p)) for p in parts) for item in value)
            fields.append(sync.canonical_value(value))
        total += int(hashlib.sha256(("\t".join(fields) + "\n").encode("utf-8")).hexdigest(), 16)
    return format(total % 2**256, "064x")


def _stored(conn, release_id: int) -> dict:
    recipe, *shas = _one(
        conn,
        "select hash_recipe, pccovid_sha256, vneid_sha256, sskdt_sha256 from publish.release_meta"
        " where release_id = %s",
        (release_id,),
    )
    return {"recipe": recipe, **dict(zip(APPS, shas, strict=True))}


def _card_step(conn) -> int:
    with conn, conn.cursor() as cur:
        cur.execute("select derived.status_as_of(%s)", (RULE_SET,))
        return cards.build_cards(cur, {"as_of": cur.fetchone()[0], "rule_set": RULE_SET}, False)


def _one(conn, statement: str, params=None):
    with conn.cursor() as cur:
        cur.execute(statement, params)
        row = cur.fetchone()
    conn.rollback()
    return row


def _versions_vs_stored(conn, release_id: int) -> tuple[int, int, int]:
    """For the rows of release ``release_id``: how many, how many versions have no line hashes (96 bytes), and
    how many versions' line hashes are not the status build's stored ones."""
    return _one(
        conn,
        """
        select count(*),
               count(*) filter (where length(v.line_sha256) is distinct from 96),
               count(*) filter (where v.line_sha256 is distinct from l.line_sha256)
        from publish.release_version as v
        left join derived.person_line as l using (person_id)
        where v.valid_from <= %(r)s and (v.valid_to is null or v.valid_to > %(r)s) and v.change <> 'removed'
        """,
        {"r": release_id},
    )


def _assert_copies_hash_as_the_release(conn, release_id: int) -> None:
    """Each app's copy, built from its delta since 0, hashes (recipe 2, as an app computes it) to the release's
    stored view hash."""
    stored = _stored(conn, release_id)
    assert stored["recipe"] == release.HASH_RECIPE
    for app in APPS:
        copy: dict = {}
        _apply(conn, app, copy, 0)
        assert _recipe_2(app, copy.values()) == stored[app], app


def test_a_release_sums_the_stored_lines_and_never_a_stale_one(conn):
    publish_seed.seed(conn, 60, records=True)
    _card_step(conn)
    (published,) = _one(conn, "select count(*) from derived.person where citizen_id is not null")
    assert _one(conn, "select count(*) from derived.person_line") == (published,)
    first = _publish(conn)
    # every row's lines came from the status build (the copies' hashes below prove them right)
    assert _versions_vs_stored(conn, first["release_id"]) == (published, 0, 0)
    _assert_copies_hash_as_the_release(conn, first["release_id"])

    # a card changes with no status build before the release: core corrects a lot number (the Sổ SKĐT line
    # changes) and a status changes (every line changes); their stored lines are stale now
    person_id, citizen_id, vaccination_id = _one(
        conn,
        """
        select p.person_id, p.citizen_id, d.vaccination_id from derived.person p
        join derived.vaccination_dose d using (person_id)
        where p.citizen_id is not null and d.dose_number = 2 order by p.person_id limit 1
        """,
    )
    stale_line = _one(conn, "select line_sha256 from derived.person_line where person_id = %s", (person_id,))[
        0
    ]
    with conn, conn.cursor() as cur:
        cur.execute(
            "update core.vaccination set lot_number = 'CORRECTED-35' where vaccination_id = %s",
            (vaccination_id,),
        )
    flipped = publish_seed.flip_cards(conn, every=17, offset=3)
    assert flipped > 0
    second = _publish(conn)
    changed = _one(
        conn, "select count(*) from publish.release_version where valid_from = %s", (second["release_id"],)
    )[0]
    (published_flipped,) = _one(
        conn,
        "select count(*) from derived.person where citizen_id is not null and person_id %% 17 = 3 and person_id <> %s",
        (person_id,),
    )
    assert changed == 1 + published_flipped, "the lot's person and the flipped persons with a CCCD"
    new_line = _one(
        conn,
        "select line_sha256 from publish.release_version where citizen_id = %s and valid_from = %s",
        (citizen_id, second["release_id"]),
    )[0]
    assert bytes(new_line)[:64] == bytes(stale_line)[:64], "the PC-Covid and VNeID lines did not change"
    assert bytes(new_line)[64:] != bytes(stale_line)[64:], "the stale Sổ SKĐT line was not used"
    rows, missing, not_stored = _versions_vs_stored(conn, second["release_id"])
    assert (rows, missing) == (published, 0) and not_stored == changed, (
        "only the changed rows' lines were computed"
    )
    _assert_copies_hash_as_the_release(conn, second["release_id"])

    # the next card step stores the changed card's line (its scope: the stale card; the flipped statuses are the
    # status build's touched persons, absent here, so they stay computed by the releases until their next build)
    assert _card_step(conn) == 1
    assert (
        _one(conn, "select line_sha256 from derived.person_line where person_id = %s", (person_id,))[0]
        == new_line
    )
    assert release.publish_release(conn, rule_set=RULE_SET)["status"] == "unchanged"


def test_a_release_of_two_views_uses_the_stored_lines_of_its_own_rows(conn):
    """A release without the Sổ SKĐT view (the benchmark's) finds the stored lines by the row hash it computes
    (lot numbers and test history left out) and stores the PC-Covid and VNeID lines only; a release of three
    views after it computes the Sổ SKĐT lines of those versions (their own, empty, Sổ SKĐT columns)."""
    publish_seed.seed(conn, 40, records=True)
    _card_step(conn)
    first = release.publish_release(conn, rule_set=RULE_SET, apps=("pccovid", "vneid"))
    assert first["status"] == "current"
    (published,) = _one(conn, "select count(*) from derived.person where citizen_id is not null")
    assert _one(
        conn,
        """
        select count(*), count(*) filter (where v.line_sha256 = substring(l.line_sha256 from 1 for 64))
        from publish.release_version as v inner join derived.person_line as l using (person_id)
        """,
    ) == (published, published)
    stored = _stored(conn, first["release_id"])
    for app in ("pccovid", "vneid"):
        copy: dict = {}
        _apply(conn, app, copy, 0)
        assert _recipe_2(app, copy.values()) == stored[app], app
    with conn, conn.cursor() as cur:
        cur.execute("update publish.build_state set full_rebuild = true")
    second = release.publish_release(conn, rule_set=RULE_SET)
    assert second["status"] == "current"
    _assert_copies_hash_as_the_release(conn, second["release_id"])
