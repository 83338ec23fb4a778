"""The SQL of ``sql/status/``: a shorthand over the project's one loader, :mod:`covidsync.sqlfiles`."""

from __future__ import annotations

from covidsync import sqlfiles


def sql(name: str) -> str:
    return sqlfiles.load("status", name)
