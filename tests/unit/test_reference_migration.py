"""Migration 0002 is the rendering of covidsync.domain's facts; the two must not drift apart."""

from pathlib import Path

from covidsync.domain import admin, codes
from covidsync.reference import reference_sql

MIGRATION = Path(__file__).resolve().parents[2] / "sql" / "migrations" / "0002_reference_data.sql"


def test_committed_migration_equals_rendering():
    assert MIGRATION.read_text(encoding="utf-8") == reference_sql(), (
        "sql/migrations/0002_reference_data.sql differs from `python -m covidsync.reference`; "
        "render a new migration instead of editing 0002"
    )


def test_rendering_holds_every_commune_and_row_code():
    sql = reference_sql()
    assert len(admin.communes()) == 151
    for code in admin.communes():
        assert f"('{code}', " in sql
    for code in codes.ROW_CODES:
        if code in codes.ROW_CODES_ADDED:  # inserted by its own later migration
            migration = next(MIGRATION.parent.glob(f"{codes.ROW_CODES_ADDED[code]}_*.sql"))
            assert f"('{code}', " in migration.read_text(encoding="utf-8")
            assert f"('{code}', " not in sql
        else:
            assert f"('{code}', " in sql


def test_quotes_are_escaped():
    from covidsync.reference import _q

    assert _q("Đồng Nai's") == "'Đồng Nai''s'"
    assert _q(None) == "null"
    assert _q(3) == "3"
