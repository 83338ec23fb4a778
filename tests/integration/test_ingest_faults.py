"""Faults and odd input: a failure before the merge leaves core untouched and the file reprocessable; a run
killed after its commit is finished by the next; odd names, empty, truncated and exploding files get their
file codes and nothing else breaks; a corrected resend replaces the record and keeps the old version; the
dry run loads nothing."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile

import psycopg2
import pytest
from ingest_rows import REGISTRY, VACCINATION, ingest, write_csv

from covidsync import db
from covidsync.ingest import landing, pipeline


@pytest.fixture
def registry(areas):
    (areas["landing"] / "registry").mkdir(parents=True)
    (areas["landing"] / "registry" / "facilities.csv").write_text(REGISTRY, encoding="utf-8")
    return areas


def rows(n: int, **change) -> list[dict]:
    return [
        dict(VACCINATION, **{"Mã bản ghi": f"R{i}", "Số CCCD/CMND": f"01709000{i:04d}"}, **change)
        for i in range(1, n + 1)
    ]


def fetch(url, sql):
    conn = psycopg2.connect(url)
    with conn.cursor() as cur:
        cur.execute(sql)
        out = cur.fetchall()
    conn.close()
    return out


def test_a_failure_between_staging_and_merge_leaves_core_untouched(warehouse_url, registry, monkeypatch):
    path = registry["landing"] / "17001" / "vaccinations" / "a.csv"
    write_csv(path, rows(5))

    def broken_merge(conn, f, **kwargs):
        raise RuntimeError("injected failure before the merge")

    monkeypatch.setattr(pipeline, "merge", broken_merge)
    with pytest.raises(RuntimeError, match="injected"):
        ingest(warehouse_url, registry)
    assert fetch(warehouse_url, "select count(*) from core.vaccination") == [(0,)]
    assert fetch(warehouse_url, "select status from ops.landing_file") == [("validated",)]
    assert path.exists(), "the file stays in the landing zone"
    monkeypatch.undo()
    monkeypatch.setenv("COVIDSYNC_DATA_DIR", str(registry["landing"].parent))
    (summary,) = ingest(warehouse_url, registry)
    assert summary["status"] == "loaded" and summary["rows_loaded"] == 5


def test_a_run_killed_after_the_merge_is_finished_by_the_next(warehouse_url, registry, monkeypatch):
    path = registry["landing"] / "17001" / "vaccinations" / "a.csv"
    write_csv(path, rows(4))

    def killed(src, dest):
        raise KeyboardInterrupt("worker killed")

    monkeypatch.setattr(landing, "move_out", killed)
    with pytest.raises(KeyboardInterrupt):
        ingest(warehouse_url, registry)
    assert fetch(warehouse_url, "select status from ops.landing_file") == [("merged",)]
    assert path.exists()
    monkeypatch.undo()
    monkeypatch.setenv("COVIDSYNC_DATA_DIR", str(registry["landing"].parent))
    (summary,) = ingest(warehouse_url, registry)
    assert summary["status"] == "loaded"
    assert not path.exists() and list(registry["archive"].rglob("a.csv"))
    assert fetch(warehouse_url, "select count(*) from core.vaccination") == [(4,)], "nothing merged twice"
    assert (registry["outbox"] / "17001" / "a.csv.result.json").exists()


@pytest.mark.parametrize(
    "name", ["tiêm chủng ngày 20-11.csv", "bao..cao.csv", "Tie\u0302\u0300m chu\u0309ng NFD.csv", "x  y .CSV"]
)
def test_odd_file_names_load(warehouse_url, registry, name):
    write_csv(registry["landing"] / "17001" / "vaccinations" / name, rows(3))
    (summary,) = ingest(warehouse_url, registry)
    assert summary["status"] == "loaded"
    assert (registry["outbox"] / "17001" / f"{name}.result.json").exists()
    assert list(registry["archive"].rglob(name))


def _xlsx_bytes(n: int) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    header = list(VACCINATION)
    sheet.append(header)
    for row in rows(n):
        sheet.append([row[h] for h in header])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _bomb(path, expanded_mb: int) -> None:
    """A valid-looking XLSX whose sheet expands to ``expanded_mb`` MiB: small on disk."""
    with zipfile.ZipFile(_xlsx_path := io.BytesIO(_xlsx_bytes(1))) as good:
        parts = {n: good.read(n) for n in good.namelist()}
    del _xlsx_path
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts.items():
            if name != "xl/worksheets/sheet1.xml":
                z.writestr(name, data)
        with z.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            chunk = b"<!--" + b"0" * (1024 * 1024 - 7) + b"-->"
            for _ in range(expanded_mb):
                sheet.write(chunk)


@pytest.mark.parametrize(
    ("name", "content", "code"),
    [
        ("empty.csv", b"", "empty_file"),
        ("header_only.csv", ",".join(VACCINATION).encode() + b"\n", "empty_file"),
        ("truncated.xlsx", None, "undecodable_file"),
        ("bomb.xlsx", None, "file_too_large"),
        ("binary.csv", bytes(range(256)) * 64, "undecodable_file"),
        ("no_vaccine.csv", None, "missing_columns"),
    ],
)
def test_unreadable_files_get_their_file_code_and_nothing_else_breaks(
    warehouse_url, registry, monkeypatch, name, content, code
):
    monkeypatch.setenv("COVIDSYNC_MAX_XLSX_EXPANDED_BYTES", str(20 * 1024 * 1024))
    folder = registry["landing"] / "17001" / "vaccinations"
    folder.mkdir(parents=True)
    target = folder / name
    if name == "truncated.xlsx":
        data = _xlsx_bytes(50)
        target.write_bytes(data[: len(data) // 2])
    elif name == "bomb.xlsx":
        _bomb(target, 64)
        assert target.stat().st_size < 2 * 1024 * 1024
    elif name == "no_vaccine.csv":
        write_csv(target, [{k: v for k, v in r.items() if k != "Tên vắc xin"} for r in rows(3)])
    else:
        target.write_bytes(content)
    write_csv(folder / "good.csv", rows(3))  # a good file beside it still loads
    summaries = ingest(warehouse_url, registry)
    by_name = dict(fetch(warehouse_url, "select original_name, file_codes from ops.landing_file"))
    assert by_name[name] == [code]
    assert by_name["good.csv"] == []
    assert {s["status"] for s in summaries} >= {"loaded"}
    report = json.loads((registry["outbox"] / "17001" / f"{name}.result.json").read_text())
    assert report["status"] == "rejected" and report["file_errors"] == [code]
    assert list(registry["rejected"].rglob(name)), "a refused file is kept in the rejected area"


def test_a_corrected_resend_replaces_the_record_and_keeps_the_old_version(warehouse_url, registry):
    write_csv(registry["landing"] / "17001" / "vaccinations" / "day1.csv", rows(3))
    ingest(warehouse_url, registry)
    corrected = rows(3)
    corrected[1]["Số lô"] = "AZ9999"
    write_csv(registry["landing"] / "17001" / "vaccinations" / "day1_corrected.csv", corrected)
    ingest(warehouse_url, registry)
    assert fetch(warehouse_url, "select count(*) from core.vaccination") == [(3,)]
    assert fetch(warehouse_url, "select lot_number from core.vaccination where record_id = 'R2'") == [
        ("AZ9999",)
    ]
    history = fetch(warehouse_url, "select record_id, lot_number from core.vaccination_history order by 1")
    assert history == [("R1", "AZ0001"), ("R2", "AZ0001"), ("R3", "AZ0001")], "every replaced version is kept"
    sources = fetch(
        warehouse_url,
        "select distinct f.original_name from core.vaccination v join ops.landing_file f on f.file_id = v.source_file_id",
    )
    assert sources == [("day1_corrected.csv",)], "every core row knows its source file"


def test_reprocess_loads_a_file_again_without_doubling(warehouse_url, registry):
    write_csv(registry["landing"] / "17001" / "vaccinations" / "a.csv", rows(3))
    (summary,) = ingest(warehouse_url, registry)
    conn = db.connect(warehouse_url)
    pipeline.reprocess(conn, summary["file_id"], "rules changed", "tester")
    conn.close()
    assert (registry["landing"] / "17001" / "vaccinations" / "a.csv").exists()
    (again,) = ingest(warehouse_url, registry)
    assert again["status"] == "loaded"
    assert fetch(warehouse_url, "select count(*) from core.vaccination") == [(3,)]
    assert fetch(warehouse_url, "select count(*) from core.vaccination_history") == [(0,)]


def test_validate_is_a_dry_run_that_loads_nothing(warehouse_url, tmp_path):
    path = tmp_path / "to_check.csv"
    bad = rows(6)
    bad[2]["Tên vắc xin"] = "Covaxin"
    write_csv(path, bad)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "covidsync",
            "validate",
            str(path),
            "--facility",
            "17001",
            "--dataset",
            "vaccinations",
            "--out",
            str(tmp_path / "report"),
        ],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.split("\n\n")[0])
    assert result["status"] == "loaded_with_errors" and result["rows_rejected"] == 1
    assert "3,vaccine,unknown_vaccine,error" in proc.stdout
    assert (tmp_path / "report" / "to_check.csv.result.json").exists()
    assert fetch(warehouse_url, "select count(*) from ops.landing_file") == [(0,)], "nothing registered"
    assert path.exists(), "the file is not moved"
    databases = fetch(
        warehouse_url, "select datname from pg_database where datname like 'covidsync_validate_%'"
    )
    assert databases == [], "the scratch database is dropped"
