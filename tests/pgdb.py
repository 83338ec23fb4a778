"""Database helpers shared by tests/conftest.py and the tests that make a database of their own (a module-scoped
world): import them from here, not from ``conftest`` (two conftest modules exist: tests/ and tests/integration/)."""

from __future__ import annotations

from covidsync import db


def with_database(url: str, database: str) -> str:
    """``url`` pointing at ``database`` instead."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(database=database).render_as_string(hide_password=False)


def execute(url: str, statement: str) -> None:
    """Run one statement outside a transaction (``create database`` and the like)."""
    db.execute_autocommit(url, statement)
