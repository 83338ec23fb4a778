"""A group's small files read one by one and staged together (covidsync.ingest.group_stage): the generator's
sample with defects, taken in groups (engine.groups, engine.process_group), leaves exactly what the engine
before issue 16 left file by file (tests/fixtures/engine/seed-<n>.json: every result.json, every errors.csv
line, every core, quarantine and ops table by md5), with its unreadable, held, rejected and resent files among
the groups' files; and the same with staging together turned off."""

from __future__ import annotations

import json

import pytest
from engine_outputs import fixture_path, options, record

from covidsync.sample.generator import generate


def grouped(conn) -> list[dict]:
    """The registry loaded, then every pending facility file in the run's groups (as the DAG maps them)."""
    from covidsync.ingest import engine, landing

    with conn:
        landing.load_registry(conn)
    pending = landing.register(conn).pending
    facility = [f for f in pending if f in set(_facility_files(conn))]
    out = []
    for group in engine.groups(conn, facility):
        out.extend(engine.process_group(conn, group))
    return out


def _facility_files(conn) -> list[int]:
    with conn.cursor() as cur:
        cur.execute("select file_id from ops.landing_file where dataset in ('vaccinations', 'test_results')")
        ids = [r[0] for r in cur.fetchall()]
    conn.rollback()
    return ids


@pytest.mark.parametrize("stage_bytes", [None, "0"], ids=["staged-together", "each-alone"])
def test_groups_reproduce_the_recorded_outputs(stage_bytes, warehouse_url, tmp_path, monkeypatch):
    import engine_outputs

    from covidsync.ingest import group_stage

    together: list[int] = []
    original = group_stage.stage_group

    def spy(conn, reads, set_status):
        together.append(len(reads))
        return original(conn, reads, set_status)

    monkeypatch.setattr(group_stage, "stage_group", spy)
    if stage_bytes is not None:
        monkeypatch.setenv("COVIDSYNC_INGEST_GROUP_STAGE_BYTES", stage_bytes)
    seed = 7
    expected = json.loads(fixture_path(seed).read_text(encoding="utf-8"))
    monkeypatch.setattr(engine_outputs, "process_pending", grouped)
    generate(options(seed, tmp_path / "sample"))
    found = record(tmp_path / "sample", tmp_path / "data", warehouse_url)

    assert sorted(found["results"]) == sorted(expected["results"])
    for name, result in expected["results"].items():
        assert found["results"][name] == result, name
    assert sorted(found["errors"]) == sorted(expected["errors"])
    for name, lines in expected["errors"].items():
        assert found["errors"][name] == lines, name
    for table, digest in expected["tables"].items():
        assert found["tables"][table] == digest, table
    if stage_bytes is None:
        assert sum(together) >= 20, together  # most of the sample's facility files were staged together
    else:
        assert together == []
