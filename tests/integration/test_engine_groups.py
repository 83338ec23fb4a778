"""Many small files: a run's files in groups (per facility, then by size), each group one task with one
Data Docs update, and each file of a group still with its own status, gate result, merge, quarantine and
reports: one bad file never holds the others."""

from __future__ import annotations

import json
import os

import psycopg2
import pytest
from ingest_rows import REGISTRY, VACCINATION, write_csv

from covidsync import db, gx_docs
from covidsync.ingest import batch_gate, engine, landing


@pytest.fixture
def registry(areas):
    (areas["landing"] / "registry").mkdir(parents=True)
    (areas["landing"] / "registry" / "facilities.csv").write_text(REGISTRY, encoding="utf-8")
    return areas


def rows(n: int, start: int = 1, **change) -> list[dict]:
    return [
        dict(VACCINATION, **{"Mã bản ghi": f"R{i}", "Số CCCD/CMND": f"01709000{i:04d}"}, **change)
        for i in range(start, start + n)
    ]


def deliver(areas, facility: str, name: str, content: list[dict], when: int) -> None:
    path = areas["landing"] / facility / "vaccinations" / name
    write_csv(path, [dict(r, **{"Mã cơ sở": facility}) if "Mã bản ghi" in r else r for r in content])
    os.utime(path, (1_637_000_000 + when, 1_637_000_000 + when))


def register(url, areas) -> list[int]:
    conn = db.connect(url)
    try:
        with conn:
            landing.load_registry(conn, areas["landing"])
        return landing.register(conn, areas["landing"]).pending
    finally:
        conn.close()


def test_groups_keep_a_facilitys_files_together_in_order_and_respect_the_bounds(
    warehouse_url, registry, monkeypatch
):
    for i in range(5):
        deliver(registry, "17001", f"a{i}.csv", rows(2, start=10 * i + 1), when=2 * i)
        deliver(registry, "17002", f"b{i}.csv", rows(2, start=10 * i + 1), when=2 * i + 1)
    pending = register(warehouse_url, registry)
    conn = db.connect(warehouse_url)
    try:
        with conn.cursor() as cur:
            cur.execute("select file_id, facility_code, original_name from ops.landing_file")
            names = {r[0]: (r[1], r[2]) for r in cur.fetchall()}
        conn.rollback()
        (one,) = engine.groups(conn, pending)
        assert [names[f] for f in one] == [("17001", f"a{i}.csv") for i in range(5)] + [
            ("17002", f"b{i}.csv") for i in range(5)
        ], "facility by facility, each facility's files as received"
        monkeypatch.setenv("COVIDSYNC_INGEST_GROUP_FILES", "4")
        cut = engine.groups(conn, pending)
        assert [len(g) for g in cut] == [4, 4, 2]
        assert [f for g in cut for f in g] == one
        monkeypatch.setenv("COVIDSYNC_INGEST_GROUP_FILES", "200")
        monkeypatch.setenv("COVIDSYNC_INGEST_GROUP_BYTES", "1")
        assert [len(g) for g in engine.groups(conn, pending)] == [1] * 10, "a file over the bound alone"
    finally:
        conn.close()


def test_each_file_of_a_group_ends_on_its_own_and_the_docs_are_updated_once(
    warehouse_url, registry, monkeypatch
):
    deliver(registry, "17001", "good.csv", rows(4), when=0)
    deliver(registry, "17001", "mostly_bad.csv", rows(5, start=20, **{"Ngày tiêm": "99/99/2021"}), when=1)
    deliver(registry, "17002", "no_dates.csv", [{"Họ và tên": "Nguyễn Văn An"}], when=2)
    deliver(registry, "17002", "also_good.csv", rows(3, start=40), when=3)
    pending = register(warehouse_url, registry)

    monkeypatch.setenv("COVIDSYNC_GX_DOCS", "1")
    builds = []
    real_build = batch_gate.build_group_docs

    def counted(keys, *more, **named):
        builds.append(list(keys))
        return real_build(keys, *more, **named)

    monkeypatch.setattr(batch_gate, "build_group_docs", counted)
    conn = db.connect(warehouse_url)
    try:
        (group,) = engine.groups(conn, pending)
        summaries = engine.process_group(conn, group)
    finally:
        conn.close()

    check = psycopg2.connect(warehouse_url)
    with check.cursor() as cur:
        cur.execute("select file_id, original_name, status from ops.landing_file")
        status = {r[1]: r[2] for r in cur.fetchall()}
        cur.execute("select facility_code, count(*) from core.vaccination group by 1 order by 1")
        loaded = cur.fetchall()
        cur.execute("select count(*) from ops.validation_result")
        (validations,) = cur.fetchone()
    check.close()
    assert sorted(s["status"] for s in summaries) == ["loaded", "loaded", "rejected", "rejected"]
    assert status == {
        "good.csv": "merged",
        "mostly_bad.csv": "held",
        "no_dates.csv": "rejected",
        "also_good.csv": "merged",
    }, "a held or refused file holds only itself"
    assert loaded == [("17001", 4), ("17002", 3)]
    assert validations == 3, "one gate result per file that was read"
    assert len(builds) == 1 and len(builds[0]) == 3, "one Data Docs update for the group, with every page"
    docs = batch_gate.docs_index().parent
    # the GX project is shared by the session's tests: this group's pages are those of its validation keys
    runs = {key.run_id.run_name for key in builds[0]}
    pages = [p for p in docs.rglob("*.html") if "validations" in p.parts and p.parent.parent.name in runs]
    assert len(pages) >= 3, "each file's validation has its page in the site"
    for page in pages:  # issue 18 through the group's one update: named after the file, nothing fetched
        assert page.parent.parent.name.startswith("vaccinations-1700"), page
        assert "file" in page.parent.parent.name
        assert "vaccinations from facility 1700" in page.read_text(encoding="utf-8")
        assert gx_docs.fetched_urls(page) == [], page
    assert gx_docs.fetched_urls(docs / "index.html") == []
    index = (docs / "index.html").read_text(encoding="utf-8")
    assert all(run in index for run in runs), "the index links every page of the group"
    # the pages were rendered from the results in memory (batch_gate.render_pages): GX's own build from the
    # stored results renders the same pages, the held file's failed expectations too
    rendered = {page: page.read_text(encoding="utf-8") for page in pages}
    batch_gate._project().context.build_data_docs(
        site_names=[batch_gate.DOCS_SITE], resource_identifiers=batch_gate._Identifiers(builds[0])
    )
    gx_docs.make_offline(docs, pages)
    assert {page: page.read_text(encoding="utf-8") for page in pages} == rendered
    outbox = registry["outbox"]
    results = {p.name: json.loads(p.read_text(encoding="utf-8")) for p in outbox.rglob("*.result.json")}
    assert results["good.csv.result.json"]["status"] == "loaded"
    assert results["mostly_bad.csv.result.json"]["status"] == "rejected"
    assert results["also_good.csv.result.json"]["status"] == "loaded"
    assert results["no_dates.csv.result.json"]["file_errors"] == ["missing_columns"]


def test_a_group_is_gated_by_one_validation_and_a_file_that_fails_fails_alone(
    warehouse_url, registry, monkeypatch
):
    from covidsync.ingest import group_gate

    deliver(registry, "17001", "first.csv", rows(3), when=0)
    deliver(registry, "17001", "breaks.csv", rows(3, start=10), when=1)
    deliver(registry, "17001", "bad_code.csv", rows(2, start=20), when=2)
    deliver(registry, "17002", "last.csv", rows(2, start=30), when=3)
    pending = register(warehouse_url, registry)

    validations, alone = [], []
    real_stacked, real_profile = group_gate._validate_stacked, engine.profile

    def stacked(dataset, members, *args, **kwargs):
        validations.append(len(members))
        return real_stacked(dataset, members, *args, **kwargs)

    def profile(conn, f, counts=None):
        if f.original_name == "breaks.csv":
            raise RuntimeError("lost the database")
        result = real_profile(conn, f, counts)
        if f.original_name == "bad_code.csv":  # a value the row rules let through: the gate holds it
            result["value_counts"]["vaccine_code"] = {"Pfizer": 2}
        return result

    monkeypatch.setattr(group_gate, "_validate_stacked", stacked)
    monkeypatch.setattr(engine, "profile", profile)
    monkeypatch.setattr(batch_gate, "run_gate", lambda *a, **k: alone.append(a) or pytest.fail("alone"))
    conn = db.connect(warehouse_url)
    try:
        (group,) = engine.groups(conn, pending)
        with pytest.raises(RuntimeError, match="lost the database"):
            engine.process_group(conn, group)
    finally:
        conn.close()

    check = psycopg2.connect(warehouse_url)
    with check.cursor() as cur:
        cur.execute("select original_name, status, file_codes from ops.landing_file order by file_id")
        status = {r[0]: (r[1], r[2]) for r in cur.fetchall()}
        cur.execute("select count(*) from core.vaccination")
        (loaded,) = cur.fetchone()
        cur.execute(
            "select bool_and(pg_try_advisory_lock(%s, file_id::int)) from ops.landing_file",
            (engine.LOCK_NAMESPACE,),
        )
        (free,) = cur.fetchone()
    check.close()
    assert validations == [3], "the three profiled files in one validation, the failed one not in it"
    assert not alone
    assert status == {
        "first.csv": ("merged", []),
        "breaks.csv": ("validated", []),  # left where it stopped, to be resumed by the next run
        "bad_code.csv": ("held", ["batch_rejected"]),
        "last.csv": ("merged", []),
    }
    assert loaded == 5
    assert free, "every file's lock was released"
