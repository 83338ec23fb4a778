"""Every warehouse database compares text by bytes (LC_COLLATE "C") and classifies characters as UTF-8
(LC_CTYPE "C.UTF-8"): ``covidsync.warehouse.CREATE_DATABASE_OPTIONS``, used by the embedded server, by
``warehouse.ensure_database``, by these tests and by the bench. Byte order is code point order for UTF-8, the
order the C.UTF-8 collation gave before, so no result changes, while sorts and index builds of text keys skip
strcoll (docs/deployment.md, "The warehouse database's collation")."""

from __future__ import annotations

import logging
import uuid

import pgdb
import psycopg2

from covidsync import db, warehouse

NAMES = [
    "Đặng Thị Ánh",
    "Nguyễn Văn An",
    "Lê Ưng",
    "ỷ",
    "Zed",
    "an",
    "Ân",
    "Bùi Đức",
    "ĐINH",
    "Ê-đê",
    "a b",
    "ab",
]


def _settings(url: str) -> tuple[str, str]:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("select datcollate, datctype from pg_database where datname = current_database()")
        return cur.fetchone()


def test_the_tests_databases_are_created_as_the_warehouse_is(warehouse_url, empty_db):
    assert _settings(warehouse_url) == ("C", "C.UTF-8")
    assert _settings(empty_db) == ("C", "C.UTF-8")


def test_text_orders_by_code_point_and_vietnamese_letters_keep_their_case(warehouse_url):
    with psycopg2.connect(warehouse_url) as conn, conn.cursor() as cur:
        cur.execute("select array_agg(n order by n) from unnest(%s::text[]) as n", (NAMES,))
        assert cur.fetchone()[0] == sorted(NAMES)  # Python compares str by code point
        cur.execute("select upper('đặng thị ánh ưng'), lower('ĐẶNG THỊ ÁNH ƯNG'), 'Đ' ~ '^[[:upper:]]$'")
        assert cur.fetchone() == ("ĐẶNG THỊ ÁNH ƯNG", "đặng thị ánh ưng", True)


def test_ensure_database_creates_it_with_the_options(pg_admin_url):
    name = f"covidsync_collation_{uuid.uuid4().hex[:8]}"
    try:
        warehouse.ensure_database(pg_admin_url, name)
        assert _settings(pgdb.with_database(pg_admin_url, name)) == ("C", "C.UTF-8")
    finally:
        pgdb.execute(pg_admin_url, f'drop database if exists "{name}" with (force)')


def test_upgrade_warns_about_a_database_that_sorts_by_locale(pg_admin_url, caplog):
    name = f"covidsync_collation_{uuid.uuid4().hex[:8]}"
    pgdb.execute(
        pg_admin_url, f"create database \"{name}\" template template0 lc_collate 'C.UTF-8' lc_ctype 'C.UTF-8'"
    )
    try:
        url = pgdb.with_database(pg_admin_url, name)
        with caplog.at_level(logging.WARNING, logger="covidsync.db"):
            db.upgrade(url)
        assert any("sorts text by C.UTF-8" in r.getMessage() for r in caplog.records)
    finally:
        pgdb.execute(pg_admin_url, f'drop database if exists "{name}" with (force)')


def test_upgrade_is_quiet_about_a_byte_ordered_database(empty_db, caplog):
    with caplog.at_level(logging.WARNING, logger="covidsync.db"):
        db.upgrade(empty_db)
    assert not [r for r in caplog.records if "sorts text by" in r.getMessage()]
