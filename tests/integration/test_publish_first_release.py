"""A first release's own form of the candidate (issue 19, branch p7-first): every person's row read by merge joins
in person_id order, without the joins that narrow a release to its scope, and with the cards computed for the
release only when some were (``covidsync.publish.release._first_candidate_sql``). The rows, their hashes and the
views' hashes must be those of the general candidate: here with stale cards (computed by the release beside the
stored ones, which must not be read twice) and stale lines (statuses changed with no status build since), and
with none."""

from __future__ import annotations

import psycopg2
import publish_seed
import pytest
from publish_snapshot import _snapshot_content_sha256

from covidsync.publish import release
from covidsync.status import cards

RULE_SET = "hb-2021-11"


@pytest.fixture
def conn(warehouse_url):
    connection = psycopg2.connect(warehouse_url)
    yield connection
    connection.close()


def _text(value) -> str:
    return bytes(value).hex() if isinstance(value, memoryview) else str(value)


def _one(conn, statement: str, params=None):
    with conn.cursor() as cur:
        cur.execute(statement, params)
        row = cur.fetchone()
    conn.rollback()
    return row


def _all(conn, statement: str, params=None) -> list:
    with conn.cursor() as cur:
        cur.execute(statement, params)
        rows = cur.fetchall()
    conn.rollback()
    return rows


def _general_rows(conn) -> set[tuple]:
    """Every person's candidate row as the general candidate (``release_candidate.sql`` over a scope of every
    person) gives it, as of the status build's as_of, in a transaction rolled back."""
    with conn.cursor() as cur:
        cur.execute("select as_of from derived.build_state where rule_set = %s", (RULE_SET,))
        as_of = cur.fetchone()[0]
        cur.execute(
            "create temporary table publish_scope (person_id bigint primary key) on commit drop;"
            "insert into publish_scope select person_id from derived.health_status where rule_set = %s",
            (RULE_SET,),
        )
        cards.release_cards(cur, as_of)
        cur.execute(
            release.sql("release_candidate"),
            {"rule_set": RULE_SET, "as_of": as_of, "with_sskdt": True, "with_base": False},
        )
        columns = [d.name for d in cur.description]
        rows = {tuple(_text(v) for v in r) for r in cur.fetchall()}
    conn.rollback()
    # what a version keeps of a candidate row: its values, hashes and expiry (not the lists' texts)
    keep = [i for i, c in enumerate(columns) if not c.endswith("_text") and c != "base_sha256"]
    return {tuple(r[i] for i in keep) for r in rows}, [columns[i] for i in keep]


def _stored_rows(conn, release_id: int, columns: list[str]) -> set[tuple]:
    with conn.cursor() as cur:
        cur.execute(
            f"select {', '.join(columns)} from publish.release_version where valid_from = %s",  # noqa: S608
            (release_id,),
        )
        rows = {tuple(_text(v) for v in r) for r in cur.fetchall()}
    conn.rollback()
    return rows


def _build_state(conn) -> None:
    with conn, conn.cursor() as cur:  # what a status build leaves: its as_of, its end (the watermark)
        cur.execute(
            """
            insert into derived.build_state (rule_set, rule_set_version, as_of, mode, persons, touched)
            values (%s, 1, %s, 'full', 80, 80)
            """,
            (RULE_SET, publish_seed.DEFAULT_AS_OF),
        )


def _card_step(conn) -> None:
    with conn, conn.cursor() as cur:
        cur.execute("select derived.status_as_of(%s)", (RULE_SET,))
        cards.build_cards(cur, {"as_of": cur.fetchone()[0], "rule_set": RULE_SET}, True)


def _analyze(conn) -> None:
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("analyze derived.health_status, derived.person, derived.person_card")
    conn.autocommit = False


@pytest.mark.parametrize(
    ("stale", "reversed_statuses"),
    [(False, False), (True, False), (False, True)],
    ids=["cards and lines hold", "stale cards and lines", "statuses stored in reverse person_id order"],
)
def test_a_first_release_stores_the_general_candidates_rows(conn, stale, reversed_statuses):
    publish_seed.seed(conn, 80, records=True)
    _build_state(conn)
    _card_step(conn)
    if reversed_statuses:
        # the statuses rewritten in the reverse order (as rows an incremental build rewrote, or a reload, leave a
        # heap): the forced merge joins would read it in random order, so the planner plans the statement itself
        with conn, conn.cursor() as cur:
            cur.execute(
                "set local session_replication_role = replica"
            )  # no pending_person notes, no FK checks
            cur.execute("create temporary table s on commit drop as select * from derived.health_status")
            cur.execute("delete from derived.health_status")
            cur.execute("insert into derived.health_status select * from s order by person_id desc")
    _analyze(conn)
    with conn.cursor() as cur:
        assert release._stored_in_person_order(cur) is not reversed_statuses
    conn.rollback()
    computed = 0
    if stale:
        # core corrects the lot numbers of some doses (their persons' cards are stale: the release computes them
        # beside the stored ones) and some statuses change (their stored lines are stale: the release hashes them)
        with conn, conn.cursor() as cur:
            cur.execute(
                "update core.vaccination set lot_number = 'CORRECTED-P7' where vaccination_id in"
                " (select vaccination_id from derived.vaccination_dose where person_id % 7 = 1)"
            )
        assert publish_seed.flip_cards(conn, every=9, offset=2) > 0
        (computed,) = _one(conn, "select count(*) from derived.person_card_stale")
        assert computed > 0
    expected, columns = _general_rows(conn)
    result = release.publish_release(conn, rule_set=RULE_SET)
    assert result["status"] == "current", result
    stored = _stored_rows(conn, result["release_id"], columns)
    assert len(stored) == len(expected) == result["row_count"]
    assert stored == expected, "a first release stores the general candidate's rows"
    assert _one(
        conn,
        "select row_count, content_sha256 from publish.release where release_id = %s",
        (result["release_id"],),
    ) == _snapshot_content_sha256(conn), "the release hashes as the snapshot design"
    assert result["agreement_checked"] == "every person" and not result["failed"]


def test_the_first_form_refuses_a_candidate_it_does_not_know():
    text = release.sql("release_candidate")
    first = release._first_candidate_sql(text, False)
    assert "from publish_scope" not in first and "from publish_card" not in first
    assert "from publish_card as r" in release._first_candidate_sql(text, True)
    with pytest.raises(release.PublishError):
        release._first_candidate_sql(text.replace("inner join status as s on", "inner join status as st on"))


@pytest.mark.parametrize(
    "apps", [("pccovid", "vneid", "sskdt"), ("pccovid", "vneid")], ids=["3 views", "2 views"]
)
def test_a_first_release_is_hashed_as_its_insert_returns_its_rows(conn, apps, caplog):
    """The content hash and the view hashes a first release computes from the rows its insert returns (branch
    p9-first) are those the release's SQL gives from the stored rows; no table of the scope is left behind."""
    publish_seed.seed(conn, 80, records=True)
    _build_state(conn)
    _card_step(conn)
    _analyze(conn)
    with caplog.at_level("WARNING", logger="covidsync.publish.release"):
        result = release.publish_release(conn, rule_set=RULE_SET, apps=apps)
    assert result["status"] == "current", result
    assert "hashing in SQL" not in caplog.text, "the rows streamed back as fixed-width rows"
    release_id = result["release_id"]
    stored = _one(
        conn,
        "select r.row_count, r.content_sha256, m.pccovid_sha256, m.vneid_sha256, m.sskdt_sha256"
        " from publish.release as r inner join publish.release_meta as m using (release_id)"
        " where release_id = %s",
        (release_id,),
    )
    with conn.cursor() as cur:
        in_sql = release.release_hashes(cur, release_id, apps=apps)  # every stored row, in SQL
    conn.rollback()
    assert stored == (
        in_sql["row_count"],
        in_sql["content_sha256"],
        in_sql["pccovid_sha256"],
        in_sql["vneid_sha256"],
        in_sql["sskdt_sha256"],
    )
    assert stored[0] > 0 and (stored[4] is None) == ("sskdt" not in apps)
    if "sskdt" in apps:
        assert stored[:2] == _snapshot_content_sha256(conn), "the release hashes as the snapshot design"
    with conn.cursor() as cur:  # the scope was a view, dropped: the next release creates its table
        cur.execute("select to_regclass('pg_temp.publish_scope')")
        assert cur.fetchone()[0] is None
    conn.rollback()
    assert publish_seed.flip_cards(conn, every=5) > 0
    assert release.publish_release(conn, rule_set=RULE_SET, apps=apps)["status"] == "current"


def _stream(conn, rows: list[tuple[str, str, bytes]], with_sskdt: bool, chunk: int):
    """A binary COPY of (citizen_id, row_sha256, line_sha256) rows into a sink taking ``chunk`` bytes at a time."""
    sink = release._FirstReleaseSums(with_sskdt)
    sink._CHUNK = chunk
    with conn.cursor() as cur:
        cur.execute("create temporary table r (citizen_id text, row_sha256 text, line_sha256 bytea, n int)")
        cur.executemany("insert into r values (%s, %s, %s, %s)", [(*r, i) for i, r in enumerate(rows)])
        cur.copy_expert(
            "copy (select citizen_id, row_sha256, line_sha256 from r order by n) to stdout binary", sink
        )
    conn.rollback()
    return sink.hashes(("pccovid", "vneid", "sskdt") if with_sskdt else ("pccovid", "vneid"))


def test_the_streamed_hashes_hold_only_for_fixed_width_rows_in_order(conn):
    import hashlib

    def row(i: int, width: int = 96, cid: str | None = None):
        cid = cid or f"{100000000000 + i * 7:012d}"
        return (
            cid,
            hashlib.sha256(cid.encode()).hexdigest(),
            hashlib.sha512(cid.encode()).digest()[: width // 2] * 2,
        )

    rows = [row(i) for i in range(300)]
    content = hashlib.sha256("".join(f"{c}\t{h}\n" for c, h, _ in rows).encode()).hexdigest()
    sums = [
        sum(int.from_bytes(line[32 * k : 32 * k + 32], "big") for _, _, line in rows) % 2**256
        for k in range(3)
    ]
    for chunk in (1, 1000, 1 << 23):  # rows split across chunks, and all in one
        hashes = _stream(conn, rows, True, chunk)
        assert hashes == {
            "row_count": 300,
            "content_sha256": content,
            "by_change": False,
            **{
                f"{app}_sha256": f"{s:064x}"
                for app, s in zip(("pccovid", "vneid", "sskdt"), sums, strict=True)
            },
        }
    two = _stream(conn, [row(i, 64) for i in range(300)], False, 1000)
    assert two["sskdt_sha256"] is None and two["pccovid_sha256"] == f"{sums[0]:064x}"
    assert _stream(conn, [], True, 1000)["content_sha256"] == hashlib.sha256(b"").hexdigest()
    # not in order, a CCCD not of digits or of another length, a line of another width: hashed in SQL instead
    assert _stream(conn, rows[:150] + rows[151:] + rows[150:151], True, 1000) is None
    assert _stream(conn, [*rows[:10], row(10, cid="10000000007A"), *rows[11:]], True, 1000) is None
    assert _stream(conn, [*rows[:10], row(10, cid="1000000000700"), *rows[11:]], True, 1000) is None
    assert _stream(conn, [*rows[:10], row(10, 64), *rows[11:]], True, 1000) is None
    assert _stream(conn, rows, False, 1000) is None


# Trusting the stored lines (issue 19, branch p12-first, migration 0082): a first release takes the status build's
# row hash and lines' hashes as stored, without computing them, only for lines known to hold. Each writer of a
# line's inputs after the card step, with no status build since, must leave the changed persons' lines untrusted.
_WRITERS = {
    # the status (a card colour and F0 flipped), as a status build or anyone writes it
    "status": "update derived.health_status set f0 = not f0, card_colour = 'red' where person_id % 9 = 2",
    # the person row (a phone corrected)
    "person": "update derived.person set phone = '0999999999' where person_id % 9 = 2",
    # a status deleted, then written again with other values
    "status rewritten": """
        create temporary table s on commit drop as
            select * from derived.health_status where person_id % 9 = 2;
        delete from derived.health_status where person_id % 9 = 2;
        insert into derived.health_status select * from s;
        update derived.health_status set doses = doses + 1 where person_id % 9 = 2
    """,
    # an arrival whose measure is in force (the Sổ SKĐT view shows it)
    "arrival": """
        insert into derived.arrival (
            rule_set, arrival_key, person_id, arrived_at, arrival_day, seen_by, origin_known, origin_level,
            category, measure, days, ends_on, arrival_rule_set
        )
        select 'hb-2021-11', 'p12-' || person_id, person_id, timestamptz '2021-11-19 09:00+07', date '2021-11-19',
               'declaration', true, 3, 'fully_vaccinated', 'home_quarantine', 7, date '2021-11-26', 'hb-2021-11'
        from derived.person where person_id % 9 = 2
    """,
}


def _trusted(conn) -> bool:
    with conn.cursor() as cur:
        cur.execute("select as_of from derived.build_state where rule_set = %s", (RULE_SET,))
        trusted = release._lines_trusted(cur, rule_set=RULE_SET, as_of=cur.fetchone()[0])
    conn.rollback()
    return trusted


def _first_release_matches_the_general_candidate(conn) -> None:
    expected, columns = _general_rows(conn)
    result = release.publish_release(conn, rule_set=RULE_SET)
    assert result["status"] == "current", result
    assert _stored_rows(conn, result["release_id"], columns) == expected, "no stale stored line was published"
    assert _one(
        conn,
        "select row_count, content_sha256 from publish.release where release_id = %s",
        (result["release_id"],),
    ) == _snapshot_content_sha256(conn), "the release hashes as the snapshot design"


@pytest.mark.parametrize("writer", list(_WRITERS))
def test_a_first_release_trusts_no_line_whose_inputs_changed_since(conn, writer):
    publish_seed.seed(conn, 80, records=True)
    _build_state(conn)
    _card_step(conn)
    _analyze(conn)
    assert _trusted(conn), "after a card step of everyone the stored lines hold"
    (stale_before,) = _one(conn, "select line_sha256 from derived.person_line where person_id = 2")
    with conn, conn.cursor() as cur:
        cur.execute(_WRITERS[writer])
    noted = {r[0] for r in _all(conn, "select person_id from derived.person_line_stale")}
    assert noted == {p for p in range(1, 81) if p % 9 == 2}, "the writer's persons are noted, no one else"
    assert _trusted(conn), "the other persons' lines are still trusted"
    _first_release_matches_the_general_candidate(conn)
    (line,) = _one(conn, "select line_sha256 from publish.release_version where person_id = 2")
    assert bytes(line) != bytes(stale_before), "the changed person's line was computed, not taken as stored"


def test_the_card_step_computes_the_noted_lines_again_and_trusts_them(conn):
    publish_seed.seed(conn, 80, records=True)
    _build_state(conn)
    _card_step(conn)
    with conn, conn.cursor() as cur:
        cur.execute(_WRITERS["person"])
    with conn, conn.cursor() as cur:  # an incremental build's card step: no card changed, the notes' lines
        cur.execute("select derived.status_as_of(%s)", (RULE_SET,))
        cards.build_cards(cur, {"as_of": cur.fetchone()[0], "rule_set": RULE_SET}, False)
    assert _all(conn, "select person_id from derived.person_line_stale") == []
    # (person 20 has no CCCD: not published, no line)
    assert _one(conn, "select count(*) from derived.person_line where person_id % 9 = 2") == (8,)
    _analyze(conn)
    assert _trusted(conn)
    _first_release_matches_the_general_candidate(conn)


@pytest.mark.parametrize(
    "writer",
    [
        "a card written outside the card step",
        "a statement over the notes' limit",
        "a truncated input",
        "an earlier as_of",
        "another recipe",
        "another rule set",
    ],
)
def test_no_stored_line_is_trusted_when_every_line_may_be_stale(conn, writer):
    publish_seed.seed(conn, 80, records=True)
    _build_state(conn)
    _card_step(conn)
    assert _trusted(conn)
    with conn, conn.cursor() as cur:
        if writer == "a card written outside the card step":
            cur.execute("update derived.person_card set lot_line = 'X' where person_id = 3")
        elif writer == "a statement over the notes' limit":
            cur.execute("create or replace function derived.line_note_limit() returns integer"
                        " language sql immutable as 'select 5'")  # fmt: skip
            cur.execute(_WRITERS["status"])
        elif writer == "a truncated input":
            cur.execute("truncate derived.arrival cascade")
        elif writer == "an earlier as_of":
            cur.execute("update derived.person_line_state set as_of = as_of + interval '1 second'")
        elif writer == "another recipe":
            cur.execute("update derived.person_line_state set recipe = md5('another')")
        else:
            cur.execute("update derived.person_line_state set rule_set = 'another'")
    assert not _trusted(conn)
    if writer == "a card written outside the card step":
        _first_release_matches_the_general_candidate(conn)
    with conn, conn.cursor() as cur:  # a card step of everyone: trusted again
        cur.execute("select derived.status_as_of(%s)", (RULE_SET,))
        cards.build_cards(cur, {"as_of": cur.fetchone()[0], "rule_set": RULE_SET}, True)
    assert _trusted(conn)


def test_the_trusted_form_refuses_a_candidate_it_does_not_know():
    text = release.sql("release_candidate")
    trusted = release._first_candidate_sql(text, False, True)
    assert "derived.person_line_stale" in trusted and "from publish_card_scope" not in trusted
    assert "from publish_card_scope as cs\n            where cs.person_id = l.person_id" in (
        release._first_candidate_sql(text, True, True)
    )
    with pytest.raises(release.PublishError):
        release._first_candidate_sql(
            text.replace("        ) as row_sha256,", "        ) as row_hash,"), False, True
        )


def test_a_status_row_put_back_as_it_was_leaves_no_note_and_any_other_write_does(conn):
    """A status build rewrites a row whose due_at alone moved (delete, then insert): its line holds, no note
    (branch s5-status keeps such a line). Put back with another shown value, or with another write of the person
    between, or after a note from before: the note stays."""
    publish_seed.seed(conn, 80, records=True)
    _build_state(conn)
    _card_step(conn)
    rewrite = """
        create temporary table s on commit drop as select * from derived.health_status where person_id in (2, 3, 4, 5);
        delete from derived.health_status where person_id in (2, 3, 4, 5);
        {between}
        insert into derived.health_status (
            rule_set, person_id, as_of, doses, last_dose_on, last_dose_product, fully_vaccinated, latest_test_type,
            latest_test_result, latest_test_sampled_at, f0, recovered_on, contact_candidate, card_colour, due_at
        )
        select rule_set, person_id, as_of + interval '1 day', doses, last_dose_on, last_dose_product,
               fully_vaccinated, latest_test_type, latest_test_result, latest_test_sampled_at, f0,
               case when person_id = 3 then date '2021-11-01' else recovered_on end, contact_candidate, card_colour,
               due_at + interval '1 day'
        from s;
    """
    with conn, conn.cursor() as cur:  # person 5 noted before the rewrite, by another transaction
        cur.execute("update derived.person set full_name = 'Đỗ Văn Em' where person_id = 5")
    with conn, conn.cursor() as cur:  # 3: another shown value; 4: its person row written in between
        cur.execute(rewrite.format(between="update derived.person set phone = null where person_id = 4;"))
    assert _all(conn, "select person_id from derived.person_line_stale order by 1") == [(3,), (4,), (5,)]
    assert _trusted(conn)
    _first_release_matches_the_general_candidate(conn)


def test_a_status_row_updated_in_place_is_noted_only_when_a_shown_value_changed(conn):
    """The status build updates a touched person's row in place (issue 19, branch s8-status; migration 0097): a
    row whose shown values stay (due_at and as_of moved, an id behind a field changed) leaves no note, one with
    another shown value is noted, and a person noted before keeps its note. Without 0097's update branch every
    updated person is noted (the test fails on [2, 3, 4, 5])."""
    publish_seed.seed(conn, 80, records=True)
    _build_state(conn)
    _card_step(conn)
    with conn, conn.cursor() as cur:  # person 5 noted before, by another transaction
        cur.execute("update derived.person set full_name = 'Đỗ Văn Em' where person_id = 5")
    with conn, conn.cursor() as cur:  # 2, 4, 5: nothing shown changes; 3: its recovery date does
        cur.execute(
            """
            update derived.health_status
            set as_of = as_of + interval '1 day', due_at = due_at + interval '1 day', computed_at = now(),
                latest_test_id = latest_test_id,
                recovered_on = case when person_id = 3 then date '2021-11-01' else recovered_on end
            where person_id in (2, 3, 4, 5)
            """
        )
    assert _all(conn, "select person_id from derived.person_line_stale order by 1") == [(3,), (5,)]
    assert _trusted(conn)
    _first_release_matches_the_general_candidate(conn)
