"""The one loader of the project's SQL files: ``sql/<layer>/<name>.sql``, read once per process.

``load("ingest", "checkin_merge")`` returns the text of ``sql/ingest/checkin_merge.sql`` under
:func:`covidsync.settings.sql_dir` (``COVIDSYNC_SQL_DIR``); the cache is keyed by the full path, so a test
that points ``COVIDSYNC_SQL_DIR`` elsewhere reads its own files. Migrations are not loaded here: ``db.py``
reads ``sql/migrations/`` as an ordered list. What stays inline in Python is in docs/development.md.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from covidsync import settings

__all__ = ["load", "path"]


def path(layer: str, name: str) -> Path:
    """Where ``sql/<layer>/<name>.sql`` is."""
    return settings.sql_dir() / layer / f"{name}.sql"


@lru_cache(maxsize=512)
def _read(file: str) -> str:
    return Path(file).read_text(encoding="utf-8")


def load(layer: str, name: str) -> str:
    """The text of ``sql/<layer>/<name>.sql`` (read from disk once per process and path)."""
    return _read(str(path(layer, name)))
