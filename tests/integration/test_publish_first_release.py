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
