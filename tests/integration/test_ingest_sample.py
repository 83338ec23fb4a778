"""On a generated landing zone with defects, the pipeline reports exactly what the generator injected:
every defect found with its code (recall 100 %) and no clean row rejected (precision 100 %); files end
with the expected status; a second run changes nothing; outboxes hold only their facility's files; no
identity value reaches the logs or the stored validation results."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import pytest
from engine_outputs import process_pending

from covidsync import db
from covidsync.ingest import landing
from covidsync.sample.generator import Options, generate

FACILITY_DATASETS = {"vaccinations", "test_results"}


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample")
    generate(Options(out=out, seed=7, persons=400, days=3, defect_rate=0.06, bomb_mb=64))
    return out


def land(sample, data, monkeypatch) -> Path:
    """A private copy of the sample's data areas in ``data`` (processing moves files), with mtimes kept."""
    import shutil

    shutil.copytree(sample / "landing", data / "landing", copy_function=shutil.copy2)
    monkeypatch.setenv("COVIDSYNC_DATA_DIR", str(data))
    monkeypatch.setenv("COVIDSYNC_MAX_XLSX_EXPANDED_BYTES", str(50 * 1024 * 1024))
    # the Data Docs site (0.3 s a file) is proved by tests/unit/ingest/test_batch_gate.py; not rebuilt here
    monkeypatch.setenv("COVIDSYNC_GX_DOCS", "0")
    return data


@pytest.fixture
def landed(sample, tmp_path, monkeypatch):
    return land(sample, tmp_path / "data", monkeypatch)


@dataclass(frozen=True)
class Ingested:
    url: str
    data: Path
    logged: str  # every log record of the run, DEBUG and up, formatted as caplog.text formats them


@pytest.fixture(scope="module")
def ingested(sample, module_warehouse_url, tmp_path_factory):
    """The sample ingested once into a fresh warehouse, for the tests that only read what that run left
    (the tables, the outboxes, the archive and rejected areas, the log); about 4 s a run.
    ``test_a_second_run_changes_nothing`` runs again, so it has a warehouse and data areas of its own."""
    records = io.StringIO()
    handler = logging.StreamHandler(records)
    handler.setFormatter(logging.Formatter("%(levelname)-8s %(name)s:%(filename)s:%(lineno)d %(message)s"))
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    level = root.level
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COVIDSYNC_WAREHOUSE_URL", module_warehouse_url)
        data = land(sample, tmp_path_factory.mktemp("ingested") / "data", mp)
        root.addHandler(handler)
        root.setLevel(logging.DEBUG)
        try:
            run_ingest(module_warehouse_url)
        finally:
            root.setLevel(level)
            root.removeHandler(handler)
    return Ingested(module_warehouse_url, data, records.getvalue())


def run_ingest(url) -> list[dict]:
    conn = db.connect(url)
    try:
        return process_pending(conn)
    finally:
        conn.close()


def truth(sample):
    with (sample / "truth" / "files.csv").open(encoding="utf-8") as fh:
        files = {r["file"]: r for r in csv.DictReader(fh) if r["dataset"] in FACILITY_DATASETS}
    with (sample / "truth" / "manifest.csv").open(encoding="utf-8") as fh:
        problems = {
            (r["file"], int(r["row_number"]), r["column"], r["code"], r["severity"])
            for r in csv.DictReader(fh)
            if r["file"] in files
        }
    return files, problems


def table_digest(url: str) -> dict[str, str]:
    conn = psycopg2.connect(url)
    out = {}
    with conn.cursor() as cur:
        for table, key in (
            ("core.vaccination", "facility_code, record_key"),
            ("core.test_result", "facility_code, record_key"),
            ("quarantine.row_problem", "file_id, row_number, column_name, code"),
            ("ops.landing_file", "file_id"),
        ):
            cur.execute(f"select md5(string_agg(t::text, '|' order by {key})) from (select * from {table}) t")
            out[table] = cur.fetchone()[0]
    conn.close()
    return out


def test_reports_match_the_manifest_exactly(sample, ingested):
    files, expected = truth(sample)
    assert len(expected) > 50 and len({p[3] for p in expected}) >= 12, "the sample must exercise many codes"

    conn = psycopg2.connect(ingested.url)
    with conn.cursor() as cur:
        cur.execute(
            """
            select f.relative_path, q.row_number, q.column_name, q.code, q.severity
            from quarantine.row_problem q join ops.landing_file f using (file_id)
            """
        )
        found = set(cur.fetchall())
        cur.execute(
            "select relative_path, status, file_codes, coalesce(rows_rejected, 0) from ops.landing_file"
        )
        statuses = {r[0]: r[1:] for r in cur.fetchall()}
        cur.execute("select results::text from ops.validation_result")
        validation_text = " ".join(r[0] for r in cur.fetchall())
    conn.close()

    missed = sorted(expected - found)
    extra = sorted(found - expected)
    assert not missed, f"{len(missed)} injected problems not reported (recall < 100 %), e.g. {missed[:10]}"
    assert not extra, (
        f"{len(extra)} problems reported that were not injected (precision < 100 %), e.g. {extra[:10]}"
    )

    for name, row in files.items():
        if row["expected_status"] == "ignored":
            assert name not in statuses, f"{name} must never be read"
            continue
        status, codes, rejected = statuses[name]
        shown = {"merged": "loaded_with_errors" if rejected else "loaded", "held": "rejected"}.get(
            status, status
        )
        assert shown == row["expected_status"], f"{name}: {shown}, expected {row['expected_status']}"
        assert codes == ([row["expected_file_code"]] if row["expected_file_code"] else []), name

    # no identity value in the logs or in what Great Expectations stored
    with (sample / "truth" / "population.csv").open(encoding="utf-8") as fh:
        people = list(csv.DictReader(fh))
    identities = set()
    for person in people:
        for column in ("citizen_id", "cmnd", "phone"):
            if person.get(column) and len(person[column]) >= 9:
                identities.add(person[column])
    logged = ingested.logged
    assert "covidsync" in logged, "the run's log was captured"
    assert not [i for i in identities if i in logged], "an identity value reached the logs"
    assert not [i for i in identities if i in validation_text], "an identity value reached GX results"
    names = {p["full_name"] for p in people if p.get("full_name")}
    assert not [n for n in names if n in logged], "a name reached the logs"


def test_outboxes_hold_only_their_facilitys_reports(sample, ingested):
    files, _ = truth(sample)
    outbox = ingested.data / "outbox"
    for report in outbox.rglob("*.result.json"):
        facility = report.relative_to(outbox).parts[0]
        result = json.loads(report.read_text(encoding="utf-8"))
        owners = {
            f["facility_code"] for name, f in files.items() if name.rsplit("/", 1)[-1] == result["file"]
        }
        assert facility in owners, f"{report} is in the outbox of {facility}, which did not send it"
    for errors in outbox.rglob("*.errors.csv"):
        text = errors.read_text(encoding="utf-8")
        for line in list(csv.reader(text.splitlines()))[1:]:
            assert not any(len(token) >= 9 and token.isdigit() for token in " ".join(line).split()), (
                f"an unmasked identity number in {errors}"
            )


def test_a_second_run_changes_nothing(warehouse_url, landed):
    run_ingest(warehouse_url)
    before = table_digest(warehouse_url)
    archived = sorted(p.relative_to(landed) for p in (landed / "archive").rglob("*") if p.is_file())
    again = run_ingest(warehouse_url)
    assert again == [], "nothing is left to process"
    assert table_digest(warehouse_url) == before
    assert sorted(p.relative_to(landed) for p in (landed / "archive").rglob("*") if p.is_file()) == archived


def test_every_file_ends_in_the_archive_or_the_rejected_area(sample, ingested):
    files, _ = truth(sample)
    landed = ingested.data

    def digest(path):
        return hashlib.sha256(path.read_bytes()).hexdigest()

    landed_after = [p for p in (landed / "landing").rglob("*") if p.is_file()]
    leftovers = [
        p
        for p in landed_after
        if "registry" not in p.parts and "pccovid" not in p.parts and not landing.is_incomplete(p.name)
    ]
    assert leftovers == [], (
        "every complete facility file leaves the landing zone (pccovid/ is ingest_checkins')"
    )
    kept = {digest(p) for area in ("archive", "rejected") for p in (landed / area).rglob("*") if p.is_file()}
    for name, row in files.items():
        if row["expected_status"] != "ignored":
            assert digest(sample / "landing" / name) in kept, f"{name} was lost"
