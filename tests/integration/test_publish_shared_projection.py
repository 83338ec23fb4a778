"""The agreement check's shortcut for views that show the common columns as one projection of the same rows
(contract §7; issue 20, branch t18-third): ``release.shared_projection`` holds for the views as migrated, so the
check reads one view (its rows and releases) and the others agree by their definitions. Any definition that could
show a common column otherwise, or other rows, is not taken for one projection: every view is read and compared
as before, and a view shown otherwise for one person still holds the release."""

from __future__ import annotations

import psycopg2
import publish_seed
import pytest

from covidsync.publish import CONSUMERS, release

APPS = tuple(CONSUMERS)


@pytest.fixture
def conn(warehouse_url):
    connection = psycopg2.connect(warehouse_url)
    yield connection
    connection.close()


def _definition(cur, view: str) -> str:
    cur.execute("select pg_get_viewdef(%s::regclass)", (f"publish.{view}",))
    return cur.fetchone()[0].rstrip().rstrip(";")


def _replace(cur, view: str, old: str, new: str) -> None:
    definition = _definition(cur, view)
    assert definition.count(old) == 1, definition
    cur.execute(f"create or replace view publish.{view} as {definition.replace(old, new)}")


def _first_person(cur) -> str:
    cur.execute("select min(citizen_id) from publish.pccovid_health_status")
    return cur.fetchone()[0]


def test_split_targets_keeps_parentheses_and_quotes_whole():
    assert release._split_targets("c.release_id,\n    r.citizen_id") == ["c.release_id", "r.citizen_id"]
    assert release._split_targets("coalesce(r.a, r.b) AS a,\n    'x,y'::text AS t, r.c") == [
        "coalesce(r.a, r.b) AS a",
        "'x,y'::text AS t",
        "r.c",
    ]
    assert release._split_targets("f(r.a, 'b") is None
    assert release._split_targets("f((r.a)") is None


def test_the_migrated_views_are_one_projection_and_the_check_reads_one_view(conn):
    publish_seed.seed(conn, 40)
    result = release.publish_release(conn)
    assert result["status"] == "current" and result["agreement_checked"] == "every person", result
    with conn.cursor() as cur:
        assert release.shared_projection(cur, APPS)
        assert release.shared_projection(cur, ("pccovid", "vneid"))
        assert not release.shared_projection(cur, ("pccovid",))  # nothing to stand for
        check = release.check_agreement(cur)
        assert check["ok"] and check["views_read"] == 1 and check["persons"] == 36, check
        assert all(check[f"{app}_releases"] == 1 for app in APPS), check
        # a view redefined as it is (the same text) is still one projection
        view = CONSUMERS["sskdt"].view
        cur.execute(f"create or replace view publish.{view} as {_definition(cur, view)}")
        assert release.shared_projection(cur, APPS)
    conn.rollback()
    publish_seed.flip_cards(conn, every=10, offset=1)
    result = release.publish_release(conn)
    assert result["status"] == "current" and result["agreement_checked"] == "changed persons", result
    with conn.cursor() as cur:
        check = release.check_agreement(cur, changed_in=result["release_id"])
        assert check["ok"] and check["views_read"] == 1 and check["persons"] == 4, check
    conn.rollback()


# Redefinitions of one view that must not pass for one projection: (old fragment, new fragment, whether the view
# then shows other common values or rows than the others for this data)
_OTHERWISE = {
    "a common column by an expression": (
        "r.card_colour,",
        "case when r.citizen_id = '{person}' then 'purple' else r.card_colour end AS card_colour,",
        True,
    ),
    "the same values by an expression": ("r.doses,", "(r.doses + 0) AS doses,", False),
    "a common column from another column": (
        "r.latest_test_type,",
        "r.latest_test_result AS latest_test_type,",
        True,
    ),
    "other rows": ("c.is_current", "c.is_current and r.citizen_id <> '{person}'", True),
    "distinct rows": ("SELECT c.release_id", "SELECT DISTINCT c.release_id", False),
    "a set-returning call beside the columns": (
        "\n   FROM",
        ",\n    generate_series(1, 2) AS copy\n   FROM",
        True,
    ),
}


@pytest.mark.parametrize("case", list(_OTHERWISE), ids=list(_OTHERWISE))
@pytest.mark.parametrize("app", APPS)
def test_a_view_defined_otherwise_is_read_and_compared(conn, case, app):
    publish_seed.seed(conn, 40)
    assert release.publish_release(conn)["status"] == "current"
    old, new, differs = _OTHERWISE[case]
    with conn.cursor() as cur:
        person = _first_person(cur)
        _replace(cur, CONSUMERS[app].view, old, new.format(person=person))
        assert not release.shared_projection(cur, APPS)
        check = release.check_agreement(cur)
        assert check["views_read"] == 3, check
        assert check["ok"] is not differs, check
        if "{person}" in new:  # one person shown otherwise
            assert check["mismatches"] == 1, check
    conn.rollback()


def test_a_view_missing_a_common_column_is_not_one_projection(conn):
    publish_seed.seed(conn, 20)
    assert release.publish_release(conn)["status"] == "current"
    with conn.cursor() as cur:
        view = CONSUMERS["vneid"].view
        cur.execute(f"drop view publish.{view}")
        cur.execute(
            f"create view publish.{view} as select c.release_id, r.citizen_id from publish.release as c"
            " inner join publish.release_version as r on c.release_id >= r.valid_from"
            " and (r.valid_to is null or c.release_id < r.valid_to) where c.is_current"
        )
        assert not release.shared_projection(cur, APPS)
    conn.rollback()


def test_a_view_with_other_options_is_not_one_projection(conn):
    publish_seed.seed(conn, 20)
    assert release.publish_release(conn)["status"] == "current"
    with conn.cursor() as cur:
        cur.execute(f"alter view publish.{CONSUMERS['sskdt'].view} set (security_invoker = true)")
        assert not release.shared_projection(cur, APPS)
        assert release.check_agreement(cur)["views_read"] == 3
    conn.rollback()


def test_a_first_release_shown_otherwise_for_one_person_in_one_view_is_held(conn):
    """The shortcut never skips a disagreement: a view redefined to show one person otherwise falls back to every
    view read, and the release is held (none current)."""
    publish_seed.seed(conn, 30)
    with conn, conn.cursor() as cur:
        cur.execute("select min(citizen_id) from derived.person where citizen_id is not null")
        person = cur.fetchone()[0]
        _replace(
            cur,
            CONSUMERS["sskdt"].view,
            "r.f0,",
            f"case when r.citizen_id = '{person}' then not r.f0 else r.f0 end AS f0,",
        )
    result = release.publish_release(conn)
    assert result["status"] == "held" and result["current_release_id"] is None, result
    assert "disagree on 1 of 27 persons" in result["failed"][0], result
    with conn.cursor() as cur:
        cur.execute("select count(*) from publish.release where is_current")
        assert cur.fetchone()[0] == 0
    conn.rollback()


# The same redefinition of every view: the same text, but rows that may differ from one read to the next
_EVERY_VIEW_OTHERWISE = {
    "a volatile condition": ("c.is_current", "c.is_current and random() < 2"),
    "a slice": ("c.is_current", "c.is_current\n  LIMIT 1000"),
    "a sample": ("publish.release_version r", "publish.release_version r TABLESAMPLE system (100)"),
}


@pytest.mark.parametrize("case", list(_EVERY_VIEW_OTHERWISE), ids=list(_EVERY_VIEW_OTHERWISE))
def test_views_alike_whose_rows_may_differ_per_read_are_each_read(conn, case):
    """Three views with the same FROM ... WHERE text are not the same rows when that text samples, slices or calls
    a function that is not immutable (review of t18-third): each view is then read and compared."""
    publish_seed.seed(conn, 20)
    assert release.publish_release(conn)["status"] == "current"
    old, new = _EVERY_VIEW_OTHERWISE[case]
    with conn.cursor() as cur:
        for app in APPS:
            _replace(cur, CONSUMERS[app].view, old, new)
        assert not release.shared_projection(cur, APPS)
        assert release.check_agreement(cur)["views_read"] == 3
    conn.rollback()
