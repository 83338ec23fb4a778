"""Migrations apply to an empty database, re-apply as a no-op, and refuse an edited migration and one numbered
below the highest applied."""

from __future__ import annotations

import shutil

import psycopg2
import pytest

from covidsync import db

LAYERS = {"staging", "quarantine", "core", "derived", "publish", "mart", "ops"}


def _schemas(url: str) -> set[str]:
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("select nspname from pg_namespace")
            return {r[0] for r in cur.fetchall()}
    finally:
        conn.close()


def test_apply_to_empty_database_creates_every_layer(empty_db):
    assert LAYERS.isdisjoint(_schemas(empty_db))
    applied = db.upgrade(empty_db)
    assert applied == [m.version for m in db.migrations()], "every migration applies on a new database"
    assert LAYERS <= _schemas(empty_db)
    conn = psycopg2.connect(empty_db)
    with conn.cursor() as cur:
        cur.execute("select count(*) from ops.schema_migration")
        assert cur.fetchone()[0] == len(applied)
        for table in ("facility", "landing_file", "file_event", "pipeline_run", "validation_result", "alert"):
            cur.execute("select to_regclass(%s)", (f"ops.{table}",))
            assert cur.fetchone()[0] is not None, f"ops.{table} is missing"
    conn.close()


def test_reapplying_is_a_no_op(empty_db):
    db.upgrade(empty_db)
    conn = psycopg2.connect(empty_db)
    with conn.cursor() as cur:
        cur.execute("select version, applied_at from ops.schema_migration order by version")
        before = cur.fetchall()
    conn.close()
    assert db.upgrade(empty_db) == []
    conn = psycopg2.connect(empty_db)
    with conn.cursor() as cur:
        cur.execute("select version, applied_at from ops.schema_migration order by version")
        assert cur.fetchall() == before
    conn.close()
    assert all(is_applied for _, is_applied in db.status(empty_db))


def test_an_edited_migration_is_refused(empty_db, tmp_path):
    folder = tmp_path / "migrations"
    shutil.copytree(db.migrations()[0].path.parent, folder)
    db.upgrade(empty_db, folder)
    first = sorted(folder.glob("*.sql"))[0]
    first.write_text(first.read_text() + "\n-- edited after release\n")
    with pytest.raises(db.MigrationError, match="changed after it was applied"):
        db.upgrade(empty_db, folder)


def test_a_new_migration_applies_alone_and_a_failing_one_leaves_nothing(empty_db, tmp_path):
    folder = tmp_path / "migrations"
    shutil.copytree(db.migrations()[0].path.parent, folder)
    db.upgrade(empty_db, folder)
    (folder / "9998_add_probe.sql").write_text("create table ops.probe (id int);\n")
    (folder / "9999_broken.sql").write_text("create table ops.half (id int);\nselect no_such_function();\n")
    with pytest.raises(psycopg2.Error):
        db.upgrade(empty_db, folder)
    conn = psycopg2.connect(empty_db)
    with conn.cursor() as cur:
        cur.execute("select to_regclass('ops.probe') is not null, to_regclass('ops.half') is not null")
        assert cur.fetchone() == (True, False), "9998 applied; the failed 9999 left no half-made table"
        cur.execute("select max(version) from ops.schema_migration")
        assert cur.fetchone()[0] == "9998"
    conn.close()


def test_badly_named_migration_file_is_an_error(tmp_path):
    (tmp_path / "add stuff.sql").write_text("select 1;")
    with pytest.raises(db.MigrationError, match="NNNN_lower_case_name"):
        db.migrations(tmp_path)


def test_a_migration_numbered_below_the_highest_applied_is_refused(empty_db, tmp_path):
    folder = tmp_path / "migrations"
    shutil.copytree(db.migrations()[0].path.parent, folder)
    db.upgrade(empty_db, folder)
    highest = db.migrations(folder)[-1].version
    (folder / "0012_late_landing.sql").write_text("create table ops.late (id int);\n")
    with pytest.raises(db.MigrationError, match=f"0012_late_landing.sql: numbered below {highest}"):
        db.upgrade(empty_db, folder)
    conn = psycopg2.connect(empty_db)
    with conn.cursor() as cur:
        cur.execute("select to_regclass('ops.late') is null")
        assert cur.fetchone()[0], "the late migration was not applied"
    conn.close()
    assert db.upgrade(empty_db) == [], "the shipped migrations have none numbered out of order"
