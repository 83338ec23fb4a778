"""The one loader of the project's SQL files: ``sql/<layer>/<name>.sql``, read once per process.

``load("ingest", "checkin_merge")`` returns the text of ``sql/ingest/checkin_merge.sql`` under
:func:`covidsync.settings.sql_dir` (``COVIDSYNC_SQL_DIR``); the cache is keyed by the full path, so a test
that points ``COVIDSYNC_SQL_DIR`` elsewhere reads its own files. Migrations are not loaded here: ``db.py``
reads ``sql/migrations/`` as an ordered list. What stays inline in Python is in docs/development.md.

A file that serves more than one dataset names its tables (and a column that differs) with placeholders
written as parameters, ``%(identity_table)s``; :func:`with_tables` puts the quoted names in before the
statement runs (the linter reads the sample values in pyproject.toml), and the other ``%(name)s`` stay
parameters.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from covidsync import settings

__all__ = ["load", "path", "with_tables"]


def path(layer: str, name: str) -> Path:
    """Where ``sql/<layer>/<name>.sql`` is."""
    return settings.sql_dir() / layer / f"{name}.sql"


@lru_cache(maxsize=512)
def _read(file: str) -> str:
    return Path(file).read_text(encoding="utf-8")


def load(layer: str, name: str) -> str:
    """The text of ``sql/<layer>/<name>.sql`` (read from disk once per process and path)."""
    return _read(str(path(layer, name)))


def with_tables(cur, text: str, **tables: str) -> str:
    """``text`` with each ``%(<key>)s`` of ``tables`` replaced by that name quoted: ``"schema"."table"`` for
    ``schema.table``, or a temporary table's or a column's ``"name"`` (:class:`psycopg2.sql.Identifier`)."""
    from psycopg2 import sql

    for key, table in tables.items():
        text = text.replace(f"%({key})s", sql.Identifier(*table.split(".")).as_string(cur))
    return text
