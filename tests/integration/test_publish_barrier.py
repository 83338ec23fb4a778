"""No reader sees past its release (issue 17, item 3): as each consumer role, a cheap pg_temp function in a
WHERE clause that records every value it is given must see only values the view itself shows, for every
view in schema publish granted to a consumer role (PC-Covid, VNeID, and any view added since)."""

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


def consumer_views(conn) -> list[tuple[str, str]]:
    """(view, role) for every view of schema publish that a role other than its owner may select from."""
    with conn.cursor() as cur:
        cur.execute(
            """
            select c.relname, g.rolname
            from pg_catalog.pg_class as c
            join pg_catalog.pg_namespace as n on n.oid = c.relnamespace
            cross join lateral aclexplode(c.relacl) as a
            join pg_catalog.pg_roles as g on g.oid = a.grantee
            where n.nspname = 'publish' and c.relkind = 'v' and a.privilege_type = 'SELECT'
              and a.grantee <> c.relowner
            order by 1, 2
            """
        )
        rows = cur.fetchall()
    conn.rollback()
    return rows


def _columns(conn, view: str) -> list[str]:
    with conn.cursor() as cur:
        cur.execute(f"select * from publish.{view} limit 0")  # noqa: S608 (name from the catalogue)
        names = [d.name for d in cur.description]
    conn.rollback()
    return names


@pytest.fixture
def releases(conn):
    """Three releases: 1 superseded, 2 current, 3 held (a mass change nobody has overridden)."""
    publish_seed.seed(conn, 60)
    assert release.publish_release(conn)["status"] == "current"
    publish_seed.flip_cards(conn, every=12, offset=1)
    assert release.publish_release(conn)["status"] == "current"
    publish_seed.flip_cards(conn, every=2, offset=0)
    assert release.publish_release(conn)["status"] == "held"
    assert release.current_release_id(conn) == 2
    return conn


def test_every_consumer_view_is_a_security_barrier(conn):
    views = consumer_views(conn)
    assert {"pccovid_health_status", "vneid_health_status"} <= {v for v, _ in views}
    with conn.cursor() as cur:
        cur.execute(
            """
            select c.relname from pg_catalog.pg_class as c join pg_catalog.pg_namespace as n
              on n.oid = c.relnamespace
            where n.nspname = 'publish' and c.relkind = 'v'
              and not coalesce('security_barrier=true' = any(c.reloptions), false)
            """
        )
        assert cur.fetchall() == []
    conn.rollback()


def test_a_view_added_or_replaced_later_is_a_barrier_too(conn):
    """What a later migration does (the third app's view, a replaced view): the event trigger of 0017 makes
    it a security barrier without the migration having to say so."""
    with conn, conn.cursor() as cur:
        cur.execute(
            "create view publish.later_view as select release_id from publish.release where is_current"
        )
        cur.execute("select pg_get_viewdef('publish.pccovid_health_status'::regclass)")
        definition = cur.fetchone()[0]
        cur.execute(f"create or replace view publish.pccovid_health_status as {definition}")
        cur.execute(
            """
            select c.relname, c.reloptions from pg_catalog.pg_class as c
            where c.oid in ('publish.later_view'::regclass, 'publish.pccovid_health_status'::regclass)
            order by 1
            """
        )
        assert cur.fetchall() == [
            ("later_view", ["security_barrier=true"]),
            ("pccovid_health_status", ["security_barrier=true"]),
        ]


def test_a_leaking_function_sees_only_the_current_release_as_every_consumer(releases):
    conn = releases
    views = consumer_views(conn)
    assert len(views) >= 2
    for view, role in views:
        columns = _columns(conn, view)
        with conn.cursor() as cur:
            as_text = ", ".join(f"{psycopg2.extensions.quote_ident(c, cur)}::text" for c in columns)
            cur.execute(f"select {as_text} from publish.{view}")  # noqa: S608
            shown = {
                c: set(values) for c, values in zip(columns, zip(*cur.fetchall(), strict=True), strict=False)
            }
        conn.rollback()
        if (
            not shown
        ):  # no row in this fixture (the commune work lists: tests/integration/test_commune_worklists.py)
            continue
        with conn.cursor() as cur:
            cur.execute(f'set role "{role}"')
            cur.execute("create temp table seen (col text, val text)")
            cur.execute(
                """
                create function pg_temp.leak(col text, val text) returns boolean
                language plpgsql cost 0.0000001 as
                $$ begin insert into seen values (col, val); return true; end $$
                """
            )
            condition = " and ".join(
                f"pg_temp.leak('{c}', {psycopg2.extensions.quote_ident(c, cur)}::text)" for c in columns
            )
            cur.execute(f"select count(*) from publish.{view} where {condition}")  # noqa: S608
            cur.execute("select col, val from seen")
            leaked = cur.fetchall()
        conn.rollback()
        assert leaked, f"{view}: the function ran"
        beyond = {(c, v) for c, v in leaked if v not in shown.get(c, set())}
        assert not beyond, f"as {role}, a function in WHERE saw {len(beyond)} values {view} does not show"
