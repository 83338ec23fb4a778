"""The agreement check's reads (contract §7; issue 20, branch p11-agree): by change, the changed persons in
batches, every view's rows of a batch read in one statement; the current release row read once per view, not
probed for each version. It still finds one person on whom one view disagrees, in whichever batch."""

from __future__ import annotations

import psycopg2
import publish_seed
import pytest

from covidsync.publish import release


@pytest.fixture
def conn(warehouse_url):
    connection = psycopg2.connect(warehouse_url)
    yield connection
    connection.close()


def _redefine(cur, view: str, *, person: str, kind: str) -> None:
    """One view shows another card colour for one person, or misses him (in the caller's transaction)."""
    cur.execute("select pg_get_viewdef(%s::regclass)", (f"publish.{view}",))
    definition = cur.fetchone()[0].rstrip().rstrip(";")
    if kind == "colour":
        old, new = (
            "r.card_colour,",
            f"case when r.citizen_id = '{person}' then 'purple' else r.card_colour end,",
        )
    else:
        old, new = "c.is_current", f"c.is_current and r.citizen_id <> '{person}'"
    assert definition.count(old) == 1, definition
    cur.execute(f"create or replace view publish.{view} as {definition.replace(old, new)}")


def _scans(cur) -> dict:
    cur.execute(
        "select relname, seq_scan, idx_scan from pg_stat_xact_user_tables"
        " where schemaname = 'publish' and relname in ('release', 'release_version')"
    )
    return {name: (seq, idx) for name, seq, idx in cur.fetchall()}


def test_by_change_every_batch_is_read_and_a_disagreement_in_any_batch_holds(conn, monkeypatch):
    publish_seed.seed(conn, 60)
    assert release.publish_release(conn)["status"] == "current"
    publish_seed.flip_cards(conn, every=6, offset=1)  # 10 persons
    monkeypatch.setattr(release, "AGREEMENT_BATCH", 3)  # batches of 3, 3, 3 and 1
    assert release.publish_release(conn)["agreement_checked"] == "changed persons"
    with conn.cursor() as cur:
        cur.execute("select citizen_id from publish.release_version where valid_from = 2 order by citizen_id")
        changed = [r[0] for r in cur.fetchall()]
        assert len(changed) == 10
        check = release.check_agreement(cur, changed_in=2)
        assert check["ok"] and check["persons"] == 10 and check["mismatches"] == 0, check
        cur.execute("select count(*) from pg_class where relname = 'publish_agreement_batch'")
        assert cur.fetchone()[0] == 0, "the batches' table is dropped after the check"
    conn.rollback()
    # one person in the first, a middle and the last batch, in each view, shown otherwise or missing
    for person in (changed[0], changed[4], changed[-1]):
        for view in ("pccovid_health_status", "vneid_health_status", "sskdt_health_status"):
            for kind in ("colour", "missing"):
                with conn.cursor() as cur:
                    _redefine(cur, view, person=person, kind=kind)
                    check = release.check_agreement(cur, changed_in=2)
                    assert not check["ok"] and check["mismatches"] == 1, (person, view, kind, check)
                conn.rollback()


@pytest.mark.parametrize("shared", [True, False], ids=["one projection", "every view read"])
def test_the_release_row_is_read_once_per_view_not_probed_per_version(conn, monkeypatch, shared):
    """Where the caller's settings make index scans look cheap and scans dear, the full check still reads the
    versions once each in one sequential scan, and the current release row by a scan, never by a probe of
    ``release_pkey`` per version (950,000 probes per view of a first release at 1M persons). By change, no
    sequential scan of the versions. The caller's settings are restored. The views as migrated show the common
    columns as one projection of the same rows (``release.shared_projection``): the full check then reads one view;
    with every view read (as for views defined otherwise), one scan each."""
    if not shared:
        monkeypatch.setattr(release, "shared_projection", lambda cur, apps: False)
    publish_seed.seed(conn, 60)
    assert release.publish_release(conn)["status"] == "current"
    publish_seed.flip_cards(conn, every=6, offset=1)
    assert release.publish_release(conn)["agreement_checked"] == "changed persons"
    settings = ("enable_seqscan", "enable_indexscan", "enable_bitmapscan")
    with conn.cursor() as cur:
        cur.execute("set local enable_seqscan = off")
        cur.execute("set local random_page_cost = 0.01")
        before = _scans(cur)
        check = release.check_agreement(cur)
        after = _scans(cur)
        assert check["ok"] and check["persons"] == 54, check
        assert check["views_read"] == (1 if shared else 3), check
        assert after["release_version"] == (
            before["release_version"][0] + check["views_read"],
            before["release_version"][1],
        )
        assert after["release"][1] == before["release"][1], (before, after)
        before = after
        check = release.check_agreement(cur, changed_in=2)
        after = _scans(cur)
        assert check["ok"] and check["persons"] == 10, check
        assert after["release_version"][0] == before["release_version"][0]
        cur.execute("select " + ", ".join(f"current_setting('{s}')" for s in settings))
        assert cur.fetchone() == ("off", "on", "on")
    conn.rollback()
