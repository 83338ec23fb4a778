"""The agreement check's "one release per view" (contract §7), now read from each view's least and greatest
release instead of a count of its distinct ones (issue 19, a first release's agreement without a sort per view):
views that show more than one release are refused, whether they all show the same rows (equal fingerprints) or
not, and the operator is told how many releases each view shows."""

from __future__ import annotations

import re

import psycopg2
import publish_seed
import pytest

from covidsync.publish import CONSUMERS, release

VIEWS = [c.view for c in CONSUMERS.values()]


def _every_release(cur, view: str) -> None:
    """Redefine ``view`` to show the rows of every release, not only the current one's."""
    cur.execute("select pg_get_viewdef(%s::regclass)", (f"publish.{view}",))
    definition = cur.fetchone()[0].rstrip().rstrip(";")
    definition, n = re.subn(r"\bWHERE c\.is_current\b", "WHERE true", definition)
    assert n == 1, definition
    cur.execute(f"create or replace view publish.{view} as {definition}")


@pytest.mark.parametrize("every_view", [True, False], ids=["all views", "one view"])
def test_views_showing_two_releases_are_refused_and_counted(warehouse_url, every_view):
    conn = psycopg2.connect(warehouse_url)
    try:
        publish_seed.seed(conn, 40)
        assert release.publish_release(conn)["status"] == "current"
        publish_seed.flip_cards(conn, every=10, offset=1)
        assert release.publish_release(conn)["status"] == "current"
        with conn.cursor() as cur:
            assert release.check_agreement(cur)["ok"]
            for view in VIEWS if every_view else VIEWS[:1]:
                _every_release(cur, view)
            check = release.check_agreement(cur)
        conn.rollback()
        assert not check["ok"]
        shown = {app: check[f"{app}_releases"] for app in CONSUMERS}
        if every_view:  # the same rows in every view: equal fingerprints, yet two releases each
            assert check["mismatches"] == 0 and shown == dict.fromkeys(CONSUMERS, 2), check
        else:
            first = next(iter(CONSUMERS))
            assert shown == {app: 2 if app == first else 1 for app in CONSUMERS}, check
    finally:
        conn.close()
