"""A scratch database for the publish benches (``python -m bench.publish_release`` and the like): created on the
server of ``--admin-url``, migrated, yielded, dropped however the bench ends."""

from __future__ import annotations

import argparse
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg2
from sqlalchemy.engine import make_url

from covidsync import db, settings


def add_admin_url(parser: argparse.ArgumentParser) -> None:
    """``--admin-url``: a server where the user may create databases (default: the tests' server)."""
    parser.add_argument(
        "--admin-url",
        default=os.environ.get(
            "COVIDSYNC_TEST_WAREHOUSE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )


def _admin(url: str, statement: str) -> None:
    conn = psycopg2.connect(url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(statement)
    conn.close()


@contextmanager
def migrated_database(admin_url: str, prefix: str) -> Iterator[str]:
    """The URL of a new database ``<prefix>_<8 hex>`` with every migration applied; dropped on exit."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    _admin(admin_url, db.create_database_sql(name))  # as the warehouse's (covidsync.db)
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        db.upgrade(url, settings.sql_dir() / "migrations")
        yield url
    finally:
        _admin(admin_url, f'drop database if exists "{name}" with (force)')
