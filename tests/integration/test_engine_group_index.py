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
    for n in range(len(builds)):  # each group's update lists the pages of that group and the ones before
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


def test_a_suites_page_is_rendered_again_only_when_its_suite_changes_or_its_page_is_gone(gx_dir):
    from covidsync.ingest import group_gate

    result = group_gate.run_group_gate([dict(_PROFILE)], store=True)[0]
    batch_gate.build_group_docs([result.docs_key])
    site = batch_gate.docs_index().parent
    page = site / "expectations" / "vaccinations_batch.html"
    first = page.read_text(encoding="utf-8")
    page.write_text(first + "<!-- kept -->", encoding="utf-8")  # a page not rendered again keeps this mark
    batch_gate.build_group_docs([result.docs_key])
    assert page.read_text(encoding="utf-8").endswith("<!-- kept -->"), "same suite: its page is not rendered"

    context = batch_gate._project().context
    stored = context.suites.get("vaccinations_batch")
    stored.notes = "e33: a note that the suite's page must show"
    stored.save()
    batch_gate.build_group_docs([result.docs_key])
    again = page.read_text(encoding="utf-8")
    assert not again.endswith("<!-- kept -->") and "a note that the suite" in again, (
        "a changed suite: rendered"
    )
    assert gx_docs.fetched_urls(page) == []

    page.unlink()
    batch_gate.build_group_docs([result.docs_key])
    assert page.is_file(), "a page gone from the site is rendered again"


_PROFILE = {
    "file_id": 7,
    "dataset": "vaccinations",
    "facility_code": "17001",
    "rows_total": 500,
    "rows_rejected": 5,
    "rejected_share": 0.01,
    "max_rejected_share": 0.2,
    "duplicate_keys": 0,
    "null_keys": 0,
    "value_counts": {
        "vaccine_code": {"EU/1/21/1529": 300, "BBIBP-CorV": 190},
        "dose_number": {1: 250, 2: 240},
        "gender": {"male": 245, "female": 245},
    },
    "history": {"days": 0},
}
