"""The ingest engine reproduces, exactly, what the engine before issue 16 produced on the generator's sample
with defects at three seeds: every result.json, every errors.csv line, and each core, quarantine and ops
table (md5 ordered by key). The fixtures are ``tests/fixtures/engine/seed-<n>.json``; see
``engine_outputs.py`` for what they hold and how they were recorded."""

from __future__ import annotations

import json

import pytest
from engine_outputs import SEEDS, fixture_path, options, record

from covidsync.sample.generator import generate


@pytest.mark.parametrize("seed", SEEDS)
def test_the_engine_reproduces_the_recorded_outputs(seed, warehouse_url, tmp_path):
    expected = json.loads(fixture_path(seed).read_text(encoding="utf-8"))
    generate(options(seed, tmp_path / "sample"))
    found = record(tmp_path / "sample", tmp_path / "data", warehouse_url)

    assert sorted(found["results"]) == sorted(expected["results"]), "the same reports, in the same outboxes"
    for name, result in expected["results"].items():
        assert found["results"][name] == result, name
    assert sorted(found["errors"]) == sorted(expected["errors"])
    for name, lines in expected["errors"].items():
        assert found["errors"][name] == lines, name
    for table, digest in expected["tables"].items():
        assert found["tables"][table] == digest, table
