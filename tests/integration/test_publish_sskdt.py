"""The third consumer, Sổ Sức khỏe điện tử (contract §7), on the generated sample: the three views agree for
every person; the Sổ SKĐT columns (lot numbers, test history, recovery date) equal what the core records say,
computed here in Python independently of the SQL; its view hash is what a copy of its delta hashes to; a
release made to disagree on one person in one view is refused; a reader polling the three views during
repeated publishes never sees two releases at once."""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from zoneinfo import ZoneInfo

import psycopg2
import publish_seed
import pytest

from covidsync.publish import CONSUMERS, release, sync
from covidsync.status import build
from covidsync.status.synthetic import Synthetic

COMMON = (
    "release_id", "citizen_id", "doses", "last_dose_on", "last_dose_product", "fully_vaccinated", "card_colour",
    "latest_test_type", "latest_test_result", "latest_test_sampled_at", "f0", "as_of",
)  # fmt: skip
VIEWS = [c.view for c in CONSUMERS.values()]
VN = ZoneInfo("Asia/Ho_Chi_Minh")


def _rows(cur, sql, *params) -> list[dict]:
    cur.execute(sql, params)
    names = [d.name for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def _utc_text(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _expected_sskdt(cur, as_of: dt.datetime) -> dict[str, dict]:
    """The Sổ SKĐT-only columns of every published person, from core and derived, in Python."""
    as_of_day = as_of.astimezone(VN).date()
    out: dict[str, dict] = {}
    for r in _rows(cur, "select person_id, citizen_id from derived.person where citizen_id is not null"):
        out[r["person_id"]] = {"citizen_id": r["citizen_id"], "lots": [], "tests": {}, "recovered_on": None}
    for r in _rows(
        cur,
        """
        select d.person_id, d.dose_number, d.vaccinated_on, v.lot_number
        from derived.vaccination_dose d left join core.vaccination v using (vaccination_id)
        order by d.person_id, d.dose_number
        """,
    ):
        if r["person_id"] in out and r["vaccinated_on"] <= as_of_day:
            out[r["person_id"]]["lots"].append(r["lot_number"])
    for t in _rows(
        cur,
        """
        select pr.person_id, t.test_result_id, t.sample_id, t.test_type, t.sampled_at, t.resulted_at, t.result,
               t.pooled, t.facility_code
        from derived.person_record pr join core.test_result t on t.test_result_id = pr.record_id
        where pr.source = 'test_result'
        """,
    ):
        person = out.get(t["person_id"])
        if person is None or not (as_of - dt.timedelta(days=90) <= t["sampled_at"] < as_of):
            continue
        key = (t["sample_id"], t["test_type"])  # one entry per sample and test (the latest result)
        seen = person["tests"].get(key)
        if seen is None or (t["resulted_at"], t["test_result_id"]) > (
            seen["resulted_at"],
            seen["test_result_id"],
        ):
            person["tests"][key] = t
    for e in _rows(
        cur,
        """
        select distinct on (person_id) person_id, recovered_at from derived.f0_episode
        where rule_set = 'hb-2021-11' and f0_since < %s order by person_id, f0_since desc
        """,
        as_of,
    ):
        person = out.get(e["person_id"])
        ended = e["recovered_at"].astimezone(VN).date()
        if person and e["recovered_at"] <= as_of and ended >= as_of_day - dt.timedelta(days=180):
            person["recovered_on"] = ended
    expected = {}
    for person in out.values():
        tests = sorted(
            person["tests"].values(),
            key=lambda t: (t["sampled_at"], t["test_type"] == "RT-PCR", t["test_result_id"]),
            reverse=True,
        )[:20]
        expected[person["citizen_id"]] = {
            "lots": person["lots"],
            "test_history": [
                {
                    "type": t["test_type"],
                    "sampled_at": _utc_text(t["sampled_at"]),
                    "result": "pooled_positive" if t["pooled"] and t["result"] == "positive" else t["result"],
                    "pooled": t["pooled"],
                    "facility_code": t["facility_code"],
                }
                for t in tests
            ],
            "recovered_on": person["recovered_on"],
        }
    return expected


@pytest.fixture(scope="module")
def sample_url(module_warehouse_url):
    data = Synthetic(seed=11, persons=500, days=6, venues=8, checkins_per_day=1200)
    conn = psycopg2.connect(module_warehouse_url)
    try:
        data.setup(conn)
        for day in data.dates:
            data.load_day(conn, day)
        many = _add_many_tests(conn)
    finally:
        conn.close()
    return module_warehouse_url, many


def _build_and_publish(url: str, day: dt.date) -> tuple[dt.datetime, dict]:
    conn = psycopg2.connect(url)
    try:
        as_of = build.as_of_for(day)
        build.build(conn, as_of, full=True)
        conn.commit()
        result = release.publish_release(conn)
    finally:
        conn.close()
    return as_of, result


def _add_many_tests(conn) -> str:
    """25 more tests (as a facility would send them) of one person with a CCCD, sampled from 2022-01-06 to
    2022-01-30: the history of 2022-01-31 shows the newest 20. Returns the CCCD."""
    with conn, conn.cursor() as cur:
        cur.execute(
            "select test_result_id, citizen_id from core.test_result where citizen_id ~ '^[0-9]{12}$' "
            "order by test_result_id limit 1"
        )
        test_id, citizen_id = cur.fetchone()
        cur.execute(
            """
            insert into core.test_result (
                facility_code, record_key, sample_id, full_name, date_of_birth, birth_year_only, gender,
                citizen_id, phone, province_code, district_code, commune_code, test_type, pooled,
                sampled_at, result, resulted_at, source_file_id, source_row
            )
            select facility_code, 'extra-' || g, 'extra-sample-' || g, full_name, date_of_birth,
                   birth_year_only, gender, citizen_id, phone, province_code, district_code, commune_code,
                   case when g %% 3 = 0 then 'RT-PCR' else 'antigen' end, false,
                   timestamptz '2022-01-05 09:00+07' + g * interval '1 day', 'negative',
                   timestamptz '2022-01-05 11:00+07' + g * interval '1 day', source_file_id, source_row
            from core.test_result cross join generate_series(1, 25) as g
            where test_result_id = %s
            """,
            (test_id,),
        )
    return citizen_id


def _day_cutting_recoveries(url: str) -> dt.date:
    """A logical day whose 180-day recovery window starts on a day some episodes ended, with others ending
    the day before (the boundary is exercised on both sides)."""
    conn = psycopg2.connect(url)
    try:
        build.build(conn, build.as_of_for(dt.date(2022, 5, 1)), full=True)
        with conn.cursor() as cur:
            cur.execute(
                "select distinct (recovered_at at time zone 'Asia/Ho_Chi_Minh')::date from derived.f0_episode "
                "order by 1"
            )
            ended = [r[0] for r in cur.fetchall()]
        conn.rollback()
    finally:
        conn.close()
    boundary = next(d for d in ended if d - dt.timedelta(days=1) in ended)
    return boundary + dt.timedelta(days=180 - 1)  # as_of's local date is the day after the logical day


@pytest.mark.parametrize("day", [dt.date(2022, 1, 31), None], ids=["tests-cut", "recoveries-cut"])
def test_the_three_views_agree_and_sskdt_shows_what_the_records_say(sample_url, day, monkeypatch):
    monkeypatch.setenv("COVIDSYNC_PUBLISH_MAX_STATUS_CHANGE", "1")  # months apart: many cards change, meant
    sample_url, many = sample_url
    many = many if day == dt.date(2022, 1, 31) else None
    day = day or _day_cutting_recoveries(sample_url)
    as_of, result = _build_and_publish(sample_url, day)
    assert result["status"] == "current", result
    conn = psycopg2.connect(sample_url)
    try:
        with conn.cursor() as cur:
            views = {v: {r["citizen_id"]: r for r in _rows(cur, f"select * from publish.{v}")} for v in VIEWS}
            expected = _expected_sskdt(cur, as_of)
            cur.execute("select sskdt_sha256 from publish.release_meta where status = 'current'")
            (sskdt_sha,) = cur.fetchone()
            delta = sync.delta_page(conn, "sskdt", since=0, limit=sync.MAX_PAGE)
            check = release.check_agreement(cur)
        conn.rollback()
    finally:
        conn.close()
    # the three views agree for every person, and every person with a CCCD is there
    pcc, vne, sk = (views[v] for v in VIEWS)
    assert len(pcc) == len(expected) > 400
    assert set(pcc) == set(vne) == set(sk) == set(expected)
    for cid in pcc:
        assert [pcc[cid][c] for c in COMMON] == [vne[cid][c] for c in COMMON] == [sk[cid][c] for c in COMMON]
    assert check["ok"] and check["mismatches"] == 0 and check["sskdt_releases"] == 1
    # the Sổ SKĐT columns are what the core records say
    for cid, row in sk.items():
        want = expected[cid]
        assert [d["lot_number"] for d in row["vaccination_certificate"]] == want["lots"], cid
        assert [
            {k: d[k] for k in ("dose", "on", "product", "facility_code")}
            for d in row["vaccination_certificate"]
        ] == (vne[cid]["vaccination_certificate"])
        assert row["test_history"] == want["test_history"], cid
        assert row["recovered_on"] == want["recovered_on"], cid
        assert row["arrival_measure"] is None and row["arrival_measure_ends_on"] is None
    # the generated sample exercised what the columns are about
    assert (
        sum(
            1
            for r in sk.values()
            if r["vaccination_certificate"] and r["vaccination_certificate"][0]["lot_number"]
        )
        > 100
    )
    if many:
        assert len(sk[many]["test_history"]) == 20 and sk[many]["test_history"][0]["sampled_at"].startswith(
            "2022-01-30"
        )
        assert sum(1 for r in sk.values() if r["test_history"]) > 50
        assert {t["result"] for r in sk.values() for t in r["test_history"]} >= {"negative", "positive"}
        assert any(t["pooled"] for r in sk.values() for t in r["test_history"])
        assert sum(1 for r in sk.values() if r["recovered_on"]) > 0
    else:
        assert not any(r["test_history"] for r in sk.values()), "every test is older than 90 days"
        boundary = as_of.astimezone(VN).date() - dt.timedelta(days=180)
        shown = {r["recovered_on"] for r in sk.values() if r["recovered_on"]}
        assert min(shown) == boundary, "an episode that ended on the window's first day is shown"
    # a copy made from the delta hashes to the view's hash (the canonical text of the lists matches SQL's)
    copy = [c["row"] for c in delta["changes"]]
    assert delta["next_after"] is None and len(copy) == len(sk)
    assert sync.view_sha256("sskdt", copy) == sskdt_sha


def _view_with(conn, view: str, *, person: str, kind: str) -> None:
    """Redefine one view so that it disagrees with the others on one person (a changed colour, or missing)."""
    with conn, conn.cursor() as cur:
        cur.execute("select pg_get_viewdef(%s::regclass)", (f"publish.{view}",))
        definition = cur.fetchone()[0].rstrip().rstrip(";")
        if kind == "colour":
            definition, n = re.subn(
                r"\br\.card_colour,",
                f"case when r.citizen_id = '{person}' then case when r.card_colour = 'red' then 'green' else 'red' "
                "end else r.card_colour end as card_colour,",
                definition,
                count=1,
            )
        else:
            definition, n = re.subn(
                r"\bc\.is_current\b", f"c.is_current and r.citizen_id <> '{person}'", definition
            )
        assert n == 1, definition
        cur.execute(f"create or replace view publish.{view} as {definition}")


@pytest.mark.parametrize("kind", ["colour", "missing"])
@pytest.mark.parametrize("view", VIEWS)
def test_a_release_where_one_view_disagrees_on_one_person_is_refused(warehouse_url, view, kind):
    conn = psycopg2.connect(warehouse_url)
    try:
        publish_seed.seed(conn, 50)
        assert release.publish_release(conn)["status"] == "current"
        _view_with(conn, view, person="017000000007", kind=kind)
        publish_seed.flip_cards(conn, every=50, offset=1)
        result = release.publish_release(conn)
        assert result["status"] == "held" and "views disagree on 1 of" in result["failed"][0], result
        assert result["current_release_id"] == 1 and release.current_release_id(conn) == 1
        with conn.cursor() as cur:
            cur.execute("select release_id, is_current, views_agree from publish.release order by 1")
            assert cur.fetchall() == [(1, True, True), (2, False, False)]
            cur.execute("select status from publish.release_meta order by release_id")
            assert cur.fetchall() == [("current",), ("held",)]
            cur.execute("select kind, subject from ops.alert where resolved_at is null")
            assert cur.fetchall() == [("publish_held", "release 2")]
        conn.rollback()
    finally:
        conn.close()


def test_a_reader_polling_the_three_views_during_repeated_publishes_never_sees_two_releases(warehouse_url):
    conn = psycopg2.connect(warehouse_url)
    publish_seed.seed(conn, 300)
    assert release.publish_release(conn)["status"] == "current"
    stop = threading.Event()
    seen: list[tuple] = []
    errors: list[BaseException] = []

    def reader():
        try:
            reader_conn = psycopg2.connect(warehouse_url)
            reader_conn.autocommit = True
            with reader_conn.cursor() as cur:
                while not stop.is_set():
                    # one statement, one snapshot: the three views as a reader of all three would see them
                    cur.execute(
                        "select "
                        + ", ".join(
                            f"(select array_agg(distinct release_id) from publish.{v})" for v in VIEWS
                        )
                    )
                    seen.append(cur.fetchone())
            reader_conn.close()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    published, deadline = [], time.monotonic() + 90
    try:
        while (len(published) < 8 or len(seen) < 40) and not errors and time.monotonic() < deadline:
            publish_seed.flip_cards(
                conn, every=9, offset=1
            )  # on, off, on, ...: each publish is a new release
            result = release.publish_release(conn)
            assert result["status"] == "current", result
            published.append(result["release_id"])
    finally:
        stop.set()
        thread.join(30)
        conn.close()
    assert not errors
    assert len(seen) >= 40 and len(published) >= 8, (len(seen), published)
    torn = [s for s in seen if any(v is None or len(v) != 1 for v in s) or len({v[0] for v in s}) != 1]
    assert torn == [], torn[:3]
    assert len({s[0][0] for s in seen}) >= 3, "the reader saw several releases, each whole"
