"""A run of several groups updates the Data Docs index once a group, and the index after the last group lists
every file's page: the same index page, byte for byte, that GX's own index build writes (issue 16, branch
e33-small: each stored result's key parsed once and its row of the index table rendered once a process,
instead of every row again at every group's update)."""

from __future__ import annotations

import datetime as _datetime
import re
import shutil
from pathlib import Path

import pytest
from test_engine_groups import deliver, register, rows

from covidsync import db, gx_docs
from covidsync.ingest import batch_gate, engine

GX_DIR = Path(__file__).resolve().parents[2] / "great_expectations"
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@pytest.fixture
def registry(areas):
    from ingest_rows import REGISTRY

    (areas["landing"] / "registry").mkdir(parents=True)
    (areas["landing"] / "registry" / "facilities.csv").write_text(REGISTRY, encoding="utf-8")
    return areas


@pytest.fixture
def gx_dir(tmp_path, monkeypatch) -> Path:
    """A GX project of this test alone: its site holds this run's pages only."""
    root = tmp_path / "great_expectations"
    shutil.copytree(GX_DIR, root, ignore=shutil.ignore_patterns("uncommitted"))
    monkeypatch.setenv("COVIDSYNC_GX_DIR", str(root))
    return root


@pytest.fixture
def deterministic(monkeypatch):
    """The cache-busting timestamps GX puts in the index's links, fixed."""
    from great_expectations.render.view import view

    class _Frozen(_datetime.datetime):
        @classmethod
        def now(cls, tz=None):
            return cls(2026, 12, 8, 1, 0, 0, tzinfo=tz)

    monkeypatch.setattr(
        view, "datetime", type("dt", (), {"datetime": _Frozen, "timezone": _datetime.timezone})
    )


def test_the_index_after_several_groups_lists_every_page_as_gx_builds_it(
    warehouse_url, registry, gx_dir, deterministic, monkeypatch
):
    for i in range(4):
        deliver(registry, "17001", f"a{i}.csv", rows(3, start=10 * i + 1), when=2 * i)
        deliver(registry, "17002", f"b{i}.csv", rows(2, start=10 * i + 1), when=2 * i + 1)
    deliver(registry, "17002", "held.csv", rows(4, start=90, **{"Ngày tiêm": "99/99/2021"}), when=20)
    pending = register(warehouse_url, registry)
    monkeypatch.setenv("COVIDSYNC_GX_DOCS", "1")
    monkeypatch.setenv("COVIDSYNC_INGEST_GROUP_FILES", "3")
    builds: list[list] = []
    real_build = batch_gate.build_group_docs

    def counted(keys, *more, **named):
        builds.append(list(keys))
        return real_build(keys, *more, **named)

    monkeypatch.setattr(batch_gate, "build_group_docs", counted)
    indexes = []
    conn = db.connect(warehouse_url)
    try:
        groups = engine.groups(conn, pending)
        assert [len(g) for g in groups] == [3, 3, 3]
        for group in groups:
            engine.process_group(conn, group)
            indexes.append(batch_gate.docs_index().read_text(encoding="utf-8"))
    finally:
        conn.close()

    assert [len(keys) for keys in builds] == [3, 3, 3], "one Data Docs update a group, with its pages"
    site = batch_gate.docs_index().parent
    for n, keys in enumerate(builds):  # each group's update lists the pages of that group and the ones before
        for key in [k for done in builds[: n + 1] for k in done]:
            assert key.run_id.run_name in indexes[n], (n, key.run_id.run_name)
        for key in [k for later in builds[n + 1 :] for k in later]:
            assert key.run_id.run_name not in indexes[n]
    pages = sorted(p.relative_to(site).as_posix() for p in (site / "validations").rglob("*.html"))
    assert len(pages) == 9, "every file's page"
    ours = indexes[-1]
    assert all(page in ours for page in pages), "the index links every file's page"
    assert gx_docs.fetched_urls(site / "index.html") == []

    # GX's own index build over the same site (no cached keys or rows), made offline the same way
    from great_expectations.render.renderer.site_builder import DefaultSiteIndexBuilder

    builder = batch_gate._site_builder().site_index_builder
    assert type(builder) is DefaultSiteIndexBuilder
    assert "_build_validation_and_profiling_result_site_keys" not in vars(builder)
    builder.build()
    gx_docs.make_offline(site, [])
    own = batch_gate.docs_index().read_text(encoding="utf-8")
    assert own.count("validations/") == ours.count("validations/")
    assert _UUID.sub("UUID", ours) == _UUID.sub("UUID", own)
