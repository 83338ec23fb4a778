"""The commune work lists (contract docs/contract/arrivals.md §3): two real logins of two communes each read
only their commune's rows of publish.commune_arrival_followup (row-level security), granted and revoked by
``covidsync communes``; bi_reader reads no personal data; the evening CSV per commune."""

from __future__ import annotations

import os
import uuid

import psycopg2
import pytest
from arrivals_world import HB_COMMUNE, HB_COMMUNE_2, ArrivalWorld, at
from cli_process import covidsync

from covidsync import communes


def _with_user(url: str, user: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(username=user, password=None).render_as_string(hide_password=False)


@pytest.fixture(scope="module")
def world(module_warehouse_url):
    """One warehouse and one build for the module (each database costs a checkpoint on the shared server)."""
    w = ArrivalWorld(module_warehouse_url)
    w.checkpoint("CP01", HB_COMMUNE)
    w.checkpoint("CP02", HB_COMMUNE_2)
    w.scan("001090011111", at("2021-11-18", "09:00"), "CP01", name="Lê Thị Một", phone="0912345671")
    w.scan("001090022222", at("2021-11-18", "10:00"), "CP02", name='=HYPERLINK("x")', phone="0912345672")
    w.declare("001090033333", travel="2021-11-19", destination=HB_COMMUNE_2)
    w.declare("001090044444", travel="2021-10-01")  # ended long before as_of: not open
    w.build("2021-11-20", full=True)
    yield w
    w.close()


@pytest.fixture(scope="module")
def logins(world):
    """Two login roles, unique to this run (roles are cluster-wide; others run tests at the same time)."""
    tag = f"{os.getpid()}_{uuid.uuid4().hex[:8]}"
    names = [f"cs_commune_a_{tag}", f"cs_commune_b_{tag}"]
    for name in names:
        world.sql(f'create role "{name}" login')
    yield names
    for name in names:
        world.sql(f'drop owned by "{name}"')
        world.sql(f'drop role if exists "{name}"')


def _env(world) -> dict:
    return {"COVIDSYNC_WAREHOUSE_URL": world.url}


def _read(url: str, login: str, query: str) -> list[tuple]:
    conn = psycopg2.connect(_with_user(url, login))
    try:
        with conn.cursor() as cur:
            cur.execute(query)
            return cur.fetchall()
    finally:
        conn.close()


def test_two_logins_each_read_only_their_commune(world, logins):
    a, b = logins
    warehouse_url = world.url
    view = "select commune_code, full_name from publish.commune_arrival_followup order by full_name"
    done = covidsync("communes", "grant", a, HB_COMMUNE, "--actor", "test", env=_env(world))
    assert done.returncode == 0, done.stderr
    communes.grant(world.conn, b, [HB_COMMUNE_2], "test")
    assert _read(warehouse_url, a, view) == [(HB_COMMUNE, "Lê Thị Một")]
    rows_b = _read(warehouse_url, b, view)
    assert {r[0] for r in rows_b} == {HB_COMMUNE_2} and len(rows_b) == 2
    # the table under the view is under the same policy; the derived layer and the mapping are not theirs
    assert {
        r[0] for r in _read(warehouse_url, a, "select commune_code from publish.commune_arrival_row")
    } == {HB_COMMUNE}
    # a function of the reader's in WHERE (cheap, so the planner would run it first) sees only its rows
    conn = psycopg2.connect(_with_user(warehouse_url, a))
    try:
        with conn.cursor() as cur:
            cur.execute("create temp table seen (val text)")
            cur.execute(
                "create function pg_temp.leak(val text) returns boolean language plpgsql cost 0.0000001 as"
                " $$ begin insert into seen values (val); return true; end $$"
            )
            cur.execute(
                "select count(*) from publish.commune_arrival_followup where pg_temp.leak(commune_code)"
            )
            cur.execute("select count(*) from publish.commune_arrival_row where pg_temp.leak(commune_code)")
            cur.execute("select distinct val from seen")
            assert cur.fetchall() == [(HB_COMMUNE,)]
    finally:
        conn.close()
    for table in ("derived.arrival", "derived.person", "ops.commune_access"):
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            _read(warehouse_url, a, f"select * from {table}")
    # revoked: nothing more, and out of commune_health
    assert communes.revoke(world.conn, a, None) == [HB_COMMUNE]
    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
        _read(warehouse_url, a, view)
    assert {r[0] for r in _read(warehouse_url, b, view)} == {HB_COMMUNE_2}


def test_grant_refuses_an_unknown_commune_or_login_in_one_line(world, logins):
    before = world.sql("select count(*) from ops.commune_access")
    done = covidsync("communes", "grant", logins[0], "00001", env=_env(world))
    assert done.returncode != 0 and "not a commune of Hòa Bình: 00001" in done.stderr
    assert "Traceback" not in done.stderr
    with pytest.raises(communes.CommuneAccessError, match="create it first"):
        communes.grant(world.conn, "no_such_login_xyz", [HB_COMMUNE], "test")
    assert world.sql("select count(*) from ops.commune_access") == before


def test_bi_reader_reads_no_personal_data(world):
    personal = {
        "full_name",
        "phone",
        "citizen_id",
        "person_key",
        "date_of_birth",
        "cmnd",
        "qid",
        "declaration_id",
    }
    rows = world.sql(
        """
        select c.table_schema || '.' || c.table_name, c.column_name
        from information_schema.columns c
        where has_table_privilege('bi_reader', format('%I.%I', c.table_schema, c.table_name), 'select')
        """
    )
    readable = {t for t, _ in rows}
    assert {"mart.arrival_day", "mart.arrival_followup_week"} <= readable
    assert not [r for r in rows if r[1] in personal], "bi_reader reads a personal column"
    for table in ("publish.commune_arrival_row", "derived.arrival", "core.declaration"):
        assert table not in readable


def test_evening_csv_per_commune(world, areas):
    communes.grant  # noqa: B018 - the module under test
    result = communes.write_worklists(world.conn, __import__("datetime").date(2021, 11, 20), areas["outbox"])
    assert result == {"day": "2021-11-20", "communes": 2, "rows": 3}
    one = (areas["outbox"] / "communes" / HB_COMMUNE / "arrivals-2021-11-20.csv").read_bytes()
    assert one.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM: Excel reads Vietnamese right
    text = one.decode("utf-8-sig")
    header, row, *rest = text.split("\r\n")
    assert header.startswith("Họ và tên,Số điện thoại,Thời điểm đến") and rest == [""]
    assert "Lê Thị Một" in row and "2021-11-18 09:00" in row and "quét mã tại chốt" in row
    two = (areas["outbox"] / "communes" / HB_COMMUNE_2 / "arrivals-2021-11-20.csv").read_text("utf-8-sig")
    assert "'=HYPERLINK" in two  # a formula-like name is neutralised
