"""Connections to the warehouse, and the migration runner.

Library code takes a URL (or an open psycopg2 connection) so that it runs the same in a test, in the
CLI and in an Airflow task; inside Airflow the URL comes from the connection ``covidsync_warehouse``
(:func:`airflow_url`). Migrations are the ordered files ``sql/migrations/NNNN_name.sql``; the runner
records each one it applied, with the file's SHA-256, in ``ops.schema_migration``; applying again is a
no-op, a migration edited after it was applied is an error (write a new one instead), and so is one
numbered below the highest applied (it would run in another order than on a new database).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from covidsync import settings
from covidsync.errors import CovidsyncError
from covidsync.warehouse import create_database_sql  # noqa: F401 - for callers of db

_log = logging.getLogger(__name__)

MIGRATION_FILE = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.sql$")
_LOCK_KEY = 0x636F7669  # pg_advisory_xact_lock key shared by every migration runner ("covi")


class MigrationError(CovidsyncError):
    pass


class WarehouseUnreachable(CovidsyncError):
    pass


def _env_ms(name: str, default: int) -> int:
    import os

    value = os.environ.get(name, "").strip()
    if not value:
        return default
    if not value.isdigit():
        raise CovidsyncError(f"{name} is a whole number of milliseconds (0: off), not {value!r}")
    return int(value)


def session_options() -> str:
    """libpq ``options`` for every pipeline session, so that a killed task's session ends with it.

    * ``client_connection_check_interval`` (``COVIDSYNC_PG_CLIENT_CHECK_MS``, 1000): while a statement
      runs, the server checks this often that the client is still there, and ends the session if not.
      Without it, a task killed by ``kill -9`` in the middle of a long statement keeps its locks (the
      status build's or the publisher's advisory lock, a merge's row locks) until the statement ends.
    * ``idle_in_transaction_session_timeout`` (``COVIDSYNC_PG_IDLE_IN_TRANSACTION_MS``, 600000): a
      session left in an open transaction with nothing to do (a hung worker) is ended after this long.
    * ``statement_timeout`` (``COVIDSYNC_PG_STATEMENT_TIMEOUT_MS``, 0 = none): a cap on any one statement.
    """
    settings_ = {
        "client_connection_check_interval": _env_ms("COVIDSYNC_PG_CLIENT_CHECK_MS", 1000),
        "idle_in_transaction_session_timeout": _env_ms("COVIDSYNC_PG_IDLE_IN_TRANSACTION_MS", 600_000),
        "statement_timeout": _env_ms("COVIDSYNC_PG_STATEMENT_TIMEOUT_MS", 0),
    }
    return " ".join(f"-c {name}={value}" for name, value in settings_.items())


def connect(url: str, *, application_name: str = "covidsync"):
    """A psycopg2 connection (not autocommit): the caller commits or rolls back.

    Its session carries :func:`session_options` (added after any ``options`` of the URL itself).
    """
    import psycopg2
    from psycopg2.extensions import parse_dsn

    try:
        given = parse_dsn(url).get("options", "")
    except psycopg2.ProgrammingError as exc:
        raise WarehouseUnreachable(f"the warehouse URL is not a valid connection string: {exc}") from exc
    try:
        return psycopg2.connect(
            url, application_name=application_name, options=f"{given} {session_options()}".strip()
        )
    except psycopg2.OperationalError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WarehouseUnreachable(f"cannot reach the warehouse at {redact(url)}: {reason}") from exc


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def warehouse_url() -> str:
    """The Airflow connection inside a task; ``COVIDSYNC_WAREHOUSE_URL`` or the embedded server elsewhere."""
    import os

    if os.environ.get("AIRFLOW_CTX_DAG_ID"):
        return airflow_url(settings.WAREHOUSE_CONN_ID)
    from covidsync import warehouse

    return warehouse.resolve_url(start=False)


@contextlib.contextmanager
def session(url: str | None = None) -> Iterator:
    """``with db.session() as conn:`` a connection to the warehouse (``url``, else :func:`warehouse_url`),
    closed on leaving the block; the caller commits (what is left uncommitted is rolled back)."""
    conn = connect(url or warehouse_url())
    try:
        yield conn
    finally:
        conn.close()


@contextlib.contextmanager
def transaction(url: str) -> Iterator:
    """A connection whose work commits on success and rolls back on any exception."""
    conn = connect(url)
    try:
        with conn:  # commit / rollback
            yield conn
    finally:
        conn.close()


def execute_autocommit(url: str, statement: str) -> None:
    """One statement outside a transaction (``create database``, ``drop database``)."""
    conn = connect(url)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(statement)
    finally:
        conn.close()


def airflow_url(conn_id: str = settings.WAREHOUSE_CONN_ID) -> str:
    """The warehouse URL from the Airflow connection (only inside Airflow; imported lazily)."""
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(conn_id)
    uri = conn.get_uri()
    # Airflow writes the scheme as its conn_type ("postgres://"); libpq wants postgresql://
    return re.sub(r"^postgres(ql)?://", "postgresql://", uri)


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def migrations(directory: Path | None = None) -> list[Migration]:
    directory = directory or settings.sql_dir() / "migrations"
    found = []
    for path in sorted(directory.glob("*.sql")):
        m = MIGRATION_FILE.match(path.name)
        if not m:
            raise MigrationError(f"{path.name}: migration files are named NNNN_lower_case_name.sql")
        found.append(Migration(m["version"], m["name"], path))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError("two migration files share a version number")
    return found


def applied(conn) -> dict[str, str]:
    """version → sha256 of the migrations recorded as applied (empty on a new database)."""
    with conn.cursor() as cur:
        cur.execute("select to_regclass('ops.schema_migration') is not null")
        if not cur.fetchone()[0]:
            return {}
        cur.execute("select version, sha256 from ops.schema_migration")
        return dict(cur.fetchall())


def refuse_out_of_order(recorded: dict[str, str], todo: list[Migration]) -> None:
    """A migration not yet applied but numbered below the highest one applied is refused: it would run
    after that one here and before it on a new database, so the two would end in different schemas."""
    if not recorded:
        return
    highest = max(recorded)
    late = [m for m in todo if m.version not in recorded and m.version < highest]
    if late:
        names = ", ".join(m.path.name for m in late)
        raise MigrationError(
            f"{names}: numbered below {highest}, the highest migration this database has applied, so it "
            "would run in another order here than on a new database; give it a number above "
            f"{highest} (sql/migrations/README.md)"
        )


def upgrade(url: str, directory: Path | None = None) -> list[str]:
    """Apply every migration not yet applied, each in its own transaction; return their versions.

    Concurrent runners serialise on an advisory lock, so two workers starting at once apply each file
    once.
    """
    todo = migrations(directory)
    done: list[str] = []
    conn = connect(url, application_name="covidsync-migrate")
    try:
        refuse_out_of_order(applied(conn), todo)
        conn.rollback()
        for migration in todo:
            with conn, conn.cursor() as cur:
                cur.execute("select pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
                cur.execute("create schema if not exists ops")
                cur.execute(
                    """
                    create table if not exists ops.schema_migration (
                        version text primary key,
                        name text not null,
                        sha256 text not null,
                        applied_at timestamptz not null default now()
                    )
                    """
                )
                cur.execute(
                    "select sha256 from ops.schema_migration where version = %s", (migration.version,)
                )
                row = cur.fetchone()
                if row is not None:
                    if row[0] != migration.sha256:
                        raise MigrationError(
                            f"migration {migration.path.name} was changed after it was applied; "
                            "add a new migration instead of editing an applied one"
                        )
                    continue
                cur.execute(migration.sql)
                cur.execute(
                    "insert into ops.schema_migration (version, name, sha256) values (%s, %s, %s)",
                    (migration.version, migration.name, migration.sha256),
                )
                done.append(migration.version)
        with conn, conn.cursor() as cur:
            cur.execute("select datcollate from pg_database where datname = current_database()")
            collate = cur.fetchone()[0]
        if collate not in ("C", "POSIX"):
            _log.warning(
                "the warehouse database sorts text by %s, not by bytes: it works, but sorts and index builds of "
                "text keys cost 1.5-3 times more; create it with LC_COLLATE 'C' (docs/deployment.md)",
                collate,
            )
    finally:
        conn.close()
    return done


def status(url: str, directory: Path | None = None) -> list[tuple[Migration, bool]]:
    conn = connect(url)
    try:
        recorded = applied(conn)
    finally:
        conn.close()
    return [(m, m.version in recorded) for m in migrations(directory)]
