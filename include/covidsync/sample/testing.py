"""pytest plugin: the ``api_simulator`` fixture (register with ``pytest_plugins = ["covidsync.sample.testing"]``).

``api_simulator_data`` (session): a small generated data set (``covidsync generate`` with seed 2021, 1500 persons,
3 days from 2021-11-01, default defect rate); its API records are under ``api/`` and their ground truth in
``truth/api_manifest.csv``.

``api_simulator`` (per test): a :class:`covidsync.sample.simulator.Simulator` serving that data on an ephemeral
port of 127.0.0.1 with the token ``"test-token"``, its failure queue empty. Use ``api_simulator.base_url(code)``,
``api_simulator.facilities("test_results")``, ``api_simulator.items(code, dataset)`` (the truth, in order),
``api_simulator.fail(mode, count=..., ...)`` and ``api_simulator.requests`` (what was asked, with statuses).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

API_SIMULATOR_TOKEN = "test-token"


@pytest.fixture(scope="session")
def api_simulator_data(tmp_path_factory) -> Path:
    from covidsync.sample.generator import Options, generate

    out = tmp_path_factory.mktemp("api-simulator-data")
    generate(Options(out=out, seed=2021, persons=1500, days=3, start=dt.date(2021, 11, 1), bomb_mb=1))
    return out


@pytest.fixture
def api_simulator(api_simulator_data):
    from covidsync.sample.simulator import running

    with running(api_simulator_data, token=API_SIMULATOR_TOKEN, port=0) as sim:
        yield sim
