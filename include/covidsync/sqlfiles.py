"""The one loader of the project's SQL files: ``sql/<layer>/<name>.sql``, read once per process.

``load("ingest", "checkin_merge")`` returns the text of ``sql/ingest/checkin_merge.sql`` under
:func:`covidsync.settings.sql_dir` (``COVIDSYNC_SQL_DIR``); the cache is keyed by the full path, so a test
that points ``COVIDSYNC_SQL_DIR`` elsewhere reads its own files. Migrations are not loaded here: ``db.py``
reads ``sql/migrations/`` as an ordered list. What stays inline in Python is in docs/development.md.

A statement that shares its logic with others is a Jinja2 template, ``sql/<layer>/<name>.sql.j2``, read where
no ``<name>.sql`` is: a few lines that call a macro of ``sql/<layer>/shared/`` with what differs (the dataset's
table and columns, the staging or the direct path). It is rendered once per process and path, with no values:
the ``%(name)s`` parameters pass through as text, to be bound by psycopg2 as in any other file. ``make lint``
lints what the templates render (:func:`render_all`, ``python -m covidsync.sqlfiles OUT``).

A file that serves more than one dataset names its tables (and a column that differs) with placeholders
written as parameters, ``%(identity_table)s``; :func:`with_tables` puts the quoted names in before the
statement runs (the linter reads the sample values in pyproject.toml), and the other ``%(name)s`` stay
parameters.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from covidsync import settings

__all__ = ["load", "path", "render_all", "with_tables"]


def path(layer: str, name: str) -> Path:
    """Where ``sql/<layer>/<name>.sql`` is."""
    return settings.sql_dir() / layer / f"{name}.sql"


@lru_cache(maxsize=512)
def _read(file: str) -> str:
    return Path(file).read_text(encoding="utf-8")


@lru_cache(maxsize=8)
def _templates(root: str):
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    # no autoescape: the output is SQL, not HTML, and no value is rendered in (parameters stay %(name)s)
    return Environment(  # noqa: S701
        loader=FileSystemLoader(root),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )


@lru_cache(maxsize=512)
def _text(root: str, layer: str, name: str) -> str:
    file = Path(root) / layer / f"{name}.sql"
    if file.exists() or not file.with_name(f"{name}.sql.j2").exists():
        return _read(str(file))
    # one newline at the end, however the template closes (a block tag takes the newline after it)
    return _templates(root).get_template(f"{layer}/{name}.sql.j2").render().rstrip("\n") + "\n"


def load(layer: str, name: str) -> str:
    """The text of ``sql/<layer>/<name>.sql``, or ``<name>.sql.j2`` rendered (once per process and path)."""
    return _text(str(settings.sql_dir()), layer, name)


def render_all(out: Path) -> list[Path]:
    """Every statement template of ``sql/`` (``<layer>/<name>.sql.j2``, not ``shared/``) rendered into
    ``out/<layer>/<name>.sql``, for the linter: what PostgreSQL is sent is what is linted."""
    root = settings.sql_dir()
    written = []
    for template in sorted(root.glob("*/*.sql.j2")):
        layer, name = template.parent.name, template.name.removesuffix(".sql.j2")
        target = out / layer / f"{name}.sql"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(load(layer, name), encoding="utf-8")
        written.append(target)
    return written


def with_tables(cur, text: str, **tables: str) -> str:
    """``text`` with each ``%(<key>)s`` of ``tables`` replaced by that name quoted: ``"schema"."table"`` for
    ``schema.table``, or a temporary table's or a column's ``"name"`` (:class:`psycopg2.sql.Identifier`)."""
    from psycopg2 import sql

    for key, table in tables.items():
        text = text.replace(f"%({key})s", sql.Identifier(*table.split(".")).as_string(cur))
    return text


if __name__ == "__main__":
    import sys

    for written in render_all(Path(sys.argv[1])):
        print(written)
