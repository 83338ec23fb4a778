"""The published row's stored parts (derived.person_card, migration 0032; issues 19 and 20): the status build
stores each person's certificates and test history, a release copies them, and whatever changes them shows in
the next release exactly as the snapshot design computes it from core: a lot number corrected in core (with
no status build in between: the trigger notes the card stale and the release computes it), a test leaving the
90-day history by time alone (the card expired: the release computes it; the next card step stores it). After
each card step the stored cards equal cards computed afresh."""

from __future__ import annotations

import psycopg2
import publish_seed
import pytest
from publish_snapshot import _snapshot_content_sha256

from covidsync.publish import release
from covidsync.status import cards
from covidsync.status.sqlfiles import sql

RULE_SET = "hb-2021-11"


@pytest.fixture
def conn(warehouse_url):
    connection = psycopg2.connect(warehouse_url)
    yield connection
    connection.close()


def _as_of(conn):
    with conn.cursor() as cur:
        cur.execute("select derived.status_as_of(%s)", (RULE_SET,))
        (as_of,) = cur.fetchone()
    conn.rollback()
    return as_of


def _card_step(conn, full: bool = False) -> int:
    with conn, conn.cursor() as cur:
        return cards.build_cards(cur, {"as_of": _as_of(conn)}, full)


def _card_rows(cur, source: str) -> set[tuple]:
    cur.execute(
        f"select person_id, vaccination_certificate::text, certificate_text, sskdt_certificate::text,"  # noqa: S608
        f" sskdt_certificate_text, lot_line, doses_shown, test_history::text, test_history_text, dose_expires_at,"
        f" test_expires_at, expires_at from {source}"
    )
    return set(cur.fetchall())


def assert_stored_cards_equal_recomputed(conn) -> int:
    """Every stored card is what sql/status/person_card.sql computes now for everyone; none is stale."""
    with conn.cursor() as cur:
        cur.execute("select as_of, all_stale from derived.person_card_state")
        as_of, all_stale = cur.fetchone()
        cur.execute("select count(*) from derived.person_card_stale")
        stale = cur.fetchone()[0]
        cur.execute("create temp table card_scope as select person_id from derived.person")
        cur.execute(f"create temp table fresh_card as {sql('person_card')}", {"as_of": as_of})  # noqa: S608
        stored, fresh = _card_rows(cur, "derived.person_card"), _card_rows(cur, "fresh_card")
    conn.rollback()
    assert not all_stale and stale == 0
    assert stored == fresh, (sorted(stored - fresh)[:2], sorted(fresh - stored)[:2])
    return len(stored)


def _publish(conn) -> dict:
    result = release.publish_release(conn, rule_set=RULE_SET)
    assert result["status"] == "current", result
    with conn.cursor() as cur:
        cur.execute(
            "select row_count, content_sha256 from publish.release where release_id = %s",
            (result["release_id"],),
        )
        stored = cur.fetchone()
    conn.rollback()
    assert stored == _snapshot_content_sha256(conn), "the release hashes as the snapshot design"
    return result


def _sskdt_row(conn, citizen_id: str) -> dict:
    with conn.cursor() as cur:
        cur.execute(
            "select vaccination_certificate, test_history from publish.sskdt_health_status where citizen_id = %s",
            (citizen_id,),
        )
        certificate, history = cur.fetchone()
    conn.rollback()
    return {"lots": [d["lot_number"] for d in certificate], "tests": [t["type"] for t in history]}


def _stored(conn, release_id: int) -> set[str]:
    with conn.cursor() as cur:
        cur.execute("select citizen_id from publish.release_version where valid_from = %s", (release_id,))
        out = {r[0] for r in cur.fetchall()}
    conn.rollback()
    return out


def test_a_release_copies_the_stored_cards(conn):
    """The release reads the stored card, not core: a card altered in derived (by hand, here) is what the views
    show; computed again (the person noted stale), the views show core's values again."""
    publish_seed.seed(conn, 30, records=True)
    assert _card_step(conn) > 0
    assert_stored_cards_equal_recomputed(conn)
    with conn, conn.cursor() as cur:
        cur.execute(
            "select c.person_id, p.citizen_id from derived.person_card c join derived.person p using (person_id)"
            " where p.citizen_id is not null and c.doses_shown > 0 order by 1 limit 1"
        )
        person_id, citizen_id = cur.fetchone()
        cur.execute(
            "update derived.person_card set sskdt_certificate = jsonb_set(sskdt_certificate, '{0,lot_number}',"
            " '\"ALTERED\"'), lot_line = 'ALTERED' where person_id = %s",
            (person_id,),
        )
    first = release.publish_release(conn, rule_set=RULE_SET)
    assert first["status"] == "current"
    assert _sskdt_row(conn, citizen_id)["lots"][0] == "ALTERED"
    with conn, conn.cursor() as cur:
        cur.execute("insert into derived.person_card_stale values (%s)", (person_id,))
        cur.execute("insert into publish.pending_person values (%s) on conflict do nothing", (person_id,))
    second = _publish(conn)
    assert _stored(conn, second["release_id"]) == {citizen_id}
    assert _sskdt_row(conn, citizen_id)["lots"][0] != "ALTERED"


def test_a_lot_number_corrected_then_a_test_ageing_out_show_in_the_next_release(conn):
    publish_seed.seed(conn, 60, records=True)
    computed = _card_step(conn)
    assert computed == 60 and assert_stored_cards_equal_recomputed(conn) > 0
    first = _publish(conn)
    with conn.cursor() as cur:
        # a person with two doses and the two seeded tests (an RT-PCR the day before as_of, an antigen 31 days
        # earlier)
        cur.execute(
            """
            select p.person_id, p.citizen_id, d.vaccination_id from derived.person p
            join derived.vaccination_dose d using (person_id)
            where p.citizen_id is not null and d.dose_number = 2
              and exists (select from derived.person_record r where r.person_id = p.person_id
                          and r.source = 'test_result')
            order by p.person_id limit 1
            """
        )
        person_id, citizen_id, vaccination_id = cur.fetchone()
    conn.rollback()
    before = _sskdt_row(conn, citizen_id)
    assert len(before["lots"]) == 2 and before["tests"] == ["RT-PCR", "antigen"]

    # core corrects the second dose's lot number; no status build runs before the release
    with conn, conn.cursor() as cur:
        cur.execute(
            "update core.vaccination set lot_number = 'CORRECTED-7' where vaccination_id = %s",
            (vaccination_id,),
        )
        cur.execute("select person_id from derived.person_card_stale")
        assert [r[0] for r in cur.fetchall()] == [person_id], "the trigger notes the card stale"
    second = _publish(conn)
    assert second["release_id"] == first["release_id"] + 1
    assert _stored(conn, second["release_id"]) == {citizen_id}, "the one person's row changes"
    assert _sskdt_row(conn, citizen_id)["lots"] == [before["lots"][0], "CORRECTED-7"]
    assert _card_step(conn) == 1, "the next card step computes the stale card alone"
    assert assert_stored_cards_equal_recomputed(conn) > 0
    assert release.publish_release(conn, rule_set=RULE_SET)["status"] == "unchanged"

    # 60 days later (statuses unchanged): the antigen test, sampled 2021-10-20, has left the 90 days by then
    with conn, conn.cursor() as cur:
        cur.execute("update derived.health_status set as_of = as_of + interval '60 days'")
        cur.execute(
            "select count(*) from derived.person_card where expires_at <= derived.status_as_of(%s)",
            (RULE_SET,),
        )
        expired = cur.fetchone()[0]
    assert expired > 0
    third = _publish(conn)
    assert citizen_id in _stored(conn, third["release_id"])
    assert _sskdt_row(conn, citizen_id) == {"lots": [before["lots"][0], "CORRECTED-7"], "tests": ["RT-PCR"]}
    assert _card_step(conn) == expired, "the next card step computes the expired cards alone"
    assert assert_stored_cards_equal_recomputed(conn) > 0
    assert release.publish_release(conn, rule_set=RULE_SET)["status"] == "unchanged"


def test_a_card_step_as_of_an_earlier_day_computes_every_card(conn):
    """The cards hold from their as_of on, not before it: a card step (or a release) as of an earlier day
    computes them all."""
    publish_seed.seed(conn, 20, records=True)
    _card_step(conn)
    with conn, conn.cursor() as cur:
        cur.execute("update derived.health_status set as_of = as_of - interval '40 days'")
    _publish(conn)  # the stored cards are later than this as_of: the release computes every card itself
    assert _card_step(conn) == 20
    assert assert_stored_cards_equal_recomputed(conn) > 0
