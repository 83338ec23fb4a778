"""Shared fixtures: a real PostgreSQL, a fresh database per test, per-test data areas, and the facility API
simulator (``api_simulator``).

The server: ``COVIDSYNC_TEST_WAREHOUSE_URL`` if set (a URL whose user may create databases), else a
server answering at 127.0.0.1:5432 (user postgres), else the project's embedded PostgreSQL (started if
needed). Each test run creates its own databases (``covidsync_test_<pid>_*``): one template with the
migrations applied, then a copy per test that needs one; all are dropped at the end.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pgdb
import pytest

from covidsync import db, warehouse

PROJECT = Path(__file__).resolve().parents[1]
_PREFIX = f"covidsync_test_{os.getpid()}"
_counter = itertools.count()


def pytest_collection_modifyitems(config, items):
    """``integration`` on every test that needs PostgreSQL, so that ``pytest -m "not integration"`` runs
    without one: each such test uses ``pg_admin_url`` (every database fixture here is built on it)."""
    for item in items:
        if "pg_admin_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.integration)


def _admin_url() -> str:
    url = os.environ.get("COVIDSYNC_TEST_WAREHOUSE_URL")
    if url:
        return url
    if warehouse.port_open("127.0.0.1", 5432):
        return "postgresql://postgres@127.0.0.1:5432/postgres"
    embedded = warehouse.EmbeddedPostgres.default()
    embedded.start()
    return embedded.url("postgres")


_with_database = pgdb.with_database
_execute = pgdb.execute


@pytest.fixture(scope="session", autouse=True)
def gx_project(tmp_path_factory):
    """A copy of the Great Expectations project, so tests never write into the repository's."""
    import shutil

    copy = tmp_path_factory.mktemp("gx") / "great_expectations"
    shutil.copytree(PROJECT / "great_expectations", copy, ignore=shutil.ignore_patterns("uncommitted"))
    previous = os.environ.get("COVIDSYNC_GX_DIR")
    os.environ["COVIDSYNC_GX_DIR"] = str(copy)
    yield copy
    if previous is None:
        os.environ.pop("COVIDSYNC_GX_DIR", None)
    else:
        os.environ["COVIDSYNC_GX_DIR"] = previous


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    """A URL on the test server through which databases are created and dropped."""
    return _admin_url()


@pytest.fixture(scope="session")
def template_db(pg_admin_url):
    """A database with every migration applied; tests get copies of it."""
    name = f"{_PREFIX}_template"
    _execute(pg_admin_url, f'drop database if exists "{name}"')
    _execute(pg_admin_url, db.create_database_sql(name))
    url = _with_database(pg_admin_url, name)
    db.upgrade(url, PROJECT / "sql" / "migrations")
    yield name
    _execute(pg_admin_url, f'drop database if exists "{name}" with (force)')


@pytest.fixture
def empty_db(pg_admin_url):
    """A new, empty database (no migrations): its URL."""
    name = f"{_PREFIX}_{next(_counter)}"
    _execute(pg_admin_url, db.create_database_sql(name))
    yield _with_database(pg_admin_url, name)
    _execute(pg_admin_url, f'drop database if exists "{name}" with (force)')


@pytest.fixture
def warehouse_url(pg_admin_url, template_db, monkeypatch):
    """A fresh migrated warehouse for one test; ``COVIDSYNC_WAREHOUSE_URL`` points at it."""
    name = f"{_PREFIX}_{next(_counter)}"
    _execute(pg_admin_url, f'create database "{name}" template "{template_db}"')
    url = _with_database(pg_admin_url, name)
    monkeypatch.setenv("COVIDSYNC_WAREHOUSE_URL", url)
    yield url
    _execute(pg_admin_url, f'drop database if exists "{name}" with (force)')


@pytest.fixture(scope="module")
def module_warehouse_url(pg_admin_url, template_db):
    """A fresh migrated warehouse shared by one module: for a module fixture that does one expensive setup
    that several tests then only read. Its URL only; ``COVIDSYNC_WAREHOUSE_URL`` is the setup's to set."""
    name = f"{_PREFIX}_{next(_counter)}"
    _execute(pg_admin_url, f'create database "{name}" template "{template_db}"')
    yield _with_database(pg_admin_url, name)
    _execute(pg_admin_url, f'drop database if exists "{name}" with (force)')


@pytest.fixture
def areas(tmp_path, monkeypatch):
    """Landing, outbox, archive and rejected areas in a temporary data directory."""
    data = tmp_path / "data"
    monkeypatch.setenv("COVIDSYNC_DATA_DIR", str(data))
    for var in ("LANDING", "OUTBOX", "ARCHIVE", "REJECTED"):
        monkeypatch.delenv(f"COVIDSYNC_{var}_DIR", raising=False)
    paths = {name: data / name for name in ("landing", "outbox", "archive", "rejected")}
    for path in paths.values():
        path.mkdir(parents=True)
    return paths


@pytest.fixture(scope="session")
def migrated_airflow_home(tmp_path_factory, pg_admin_url) -> Path:
    """An Airflow home whose SQLite metadata database was migrated once for the session, by the code that
    ``covidsync run`` uses on first use (``airflow db migrate``, then its stamp file); about 5 s a time."""
    from covidsync.cli import run

    home = tmp_path_factory.mktemp("airflow-migrated")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AIRFLOW_HOME", str(home))
        mp.setenv("COVIDSYNC_WAREHOUSE_URL", pg_admin_url)
        run._environ()
    assert (home / "airflow.db").is_file() and list(home.glob(".migrated-*")), (
        "Airflow's metadata not migrated"
    )
    return home


@pytest.fixture
def airflow_home(migrated_airflow_home, tmp_path) -> Path:
    """A private ``AIRFLOW_HOME`` (``tmp_path / "airflow"``) holding a copy of the migrated metadata database
    and its stamp, so a test's ``covidsync run`` skips the migration. Not airflow.cfg: it names its home's
    absolute paths, and Airflow writes a new one here on first use."""
    import shutil

    home = tmp_path / "airflow"
    home.mkdir()
    for path in [migrated_airflow_home / "airflow.db", *migrated_airflow_home.glob(".migrated-*")]:
        shutil.copy2(path, home / path.name)
    return home


# --- the facility API simulator (contract §8) -------------------------------------------------------------
API_SIMULATOR_TOKEN = "test-token"


@pytest.fixture(scope="session")
def api_simulator_data(tmp_path_factory) -> Path:
    """A small generated data set (seed 2021, 1500 persons, 3 days from 2021-11-01, default defect rate);
    its API records are under ``api/``, their ground truth in ``truth/api_manifest.csv``."""
    import datetime as dt

    from covidsync.sample.generator import Options, generate

    out = tmp_path_factory.mktemp("api-simulator-data")
    generate(Options(out=out, seed=2021, persons=1500, days=3, start=dt.date(2021, 11, 1), bomb_mb=1))
    return out


@pytest.fixture
def api_simulator(api_simulator_data):
    """A :class:`covidsync.sample.simulator.Simulator` serving ``api_simulator_data`` on an ephemeral port of
    127.0.0.1 with the token ``"test-token"``, its failure queue empty: ``.base_url(code)``,
    ``.facilities("test_results")``, ``.items(code, dataset)`` (the truth, in order), ``.fail(mode, ...)``,
    ``.requests`` (what was asked, with statuses)."""
    from covidsync.sample.simulator import running

    with running(api_simulator_data, token=API_SIMULATOR_TOKEN, port=0) as sim:
        yield sim
