"""A group's small files read one by one and staged together (covidsync.ingest.group_stage): the generator's
sample with defects, taken in groups (engine.groups, engine.process_group), leaves exactly what the engine
before issue 16 left file by file (tests/fixtures/engine/seed-<n>.json: every result.json, every errors.csv
line, every core, quarantine and ops table by md5), with its unreadable, held, rejected and resent files among
the groups' files; and the same with staging together turned off."""

from __future__ import annotations

import json
import os

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


def test_in_a_group_staged_together_a_replaced_or_unreadable_file_ends_alone(warehouse_url, areas):
    from ingest_rows import REGISTRY
    from test_engine_groups import deliver, register, rows

    from covidsync import db
    from covidsync.ingest import engine

    (areas["landing"] / "registry").mkdir(parents=True)
    (areas["landing"] / "registry" / "facilities.csv").write_text(REGISTRY, encoding="utf-8")
    deliver(areas, "17001", "a.csv", rows(3, start=1), when=1)
    deliver(areas, "17001", "b.csv", rows(3, start=11), when=2)
    deliver(areas, "17001", "c.csv", rows(3, start=21), when=3)
    (areas["landing"] / "17001" / "vaccinations" / "d.csv").write_bytes(b"\xff\xfe\x00garbage\x00\n\x00")
    os.utime(areas["landing"] / "17001" / "vaccinations" / "d.csv", (1_637_000_004, 1_637_000_004))
    pending = register(warehouse_url, areas)
    deliver(areas, "17001", "b.csv", rows(2, start=31), when=2)  # new bytes after registration

    conn = db.connect(warehouse_url)
    try:
        (group,) = engine.groups(conn, pending)
        summaries = engine.process_group(conn, group)
        with conn.cursor() as cur:
            cur.execute(
                "select original_name, status from ops.landing_file where file_id = any(%s) order by file_id",
                (group,),
            )
            statuses = cur.fetchall()
            cur.execute("select record_key from core.vaccination order by 1")
            loaded = [r[0] for r in cur.fetchall()]
        conn.rollback()
    finally:
        conn.close()
    assert [s["status"] for s in summaries] == ["loaded", "replaced", "loaded", "rejected"]
    assert statuses == [
        ("a.csv", "merged"),
        ("b.csv", "rejected"),
        ("c.csv", "merged"),
        ("d.csv", "rejected"),
    ]
    assert len(loaded) == 6  # a's and c's rows, staged together; nothing under b's first bytes
