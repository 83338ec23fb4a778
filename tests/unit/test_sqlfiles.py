"""The one SQL loader (issue 22): ``sql/<layer>/<name>.sql`` under ``COVIDSYNC_SQL_DIR``, read once per path."""

from __future__ import annotations

import pytest

from covidsync import settings, sqlfiles
from covidsync.ingest import engine
from covidsync.marts import refresh
from covidsync.publish import release


def test_load_reads_the_layer_file_once_and_follows_the_sql_dir(tmp_path, monkeypatch):
    (tmp_path / "marts").mkdir()
    probe = tmp_path / "marts" / "probe_loader.sql"
    probe.write_text("select 1\n", encoding="utf-8")
    monkeypatch.setenv("COVIDSYNC_SQL_DIR", str(tmp_path))
    assert sqlfiles.path("marts", "probe_loader") == probe
    assert sqlfiles.load("marts", "probe_loader") == "select 1\n"
    probe.write_text("select 2\n", encoding="utf-8")
    assert refresh.sql("probe_loader") == "select 1\n", "read from disk once per process and path"
    other = tmp_path / "elsewhere"
    (other / "marts").mkdir(parents=True)
    (other / "marts" / "probe_loader.sql").write_text("select 3\n", encoding="utf-8")
    monkeypatch.setenv("COVIDSYNC_SQL_DIR", str(other))
    assert sqlfiles.load("marts", "probe_loader") == "select 3\n"
    with pytest.raises(FileNotFoundError):
        sqlfiles.load("marts", "no_such_file")


def test_the_layer_shorthands_read_the_shipped_files():
    root = settings.sql_dir()
    assert (
        engine.sql_text("api_source_watermark") == (root / "ingest" / "api_source_watermark.sql").read_text()
    )
    assert release.sql("release_hashes") == (root / "publish" / "release_hashes.sql").read_text()
    assert refresh.sql("app_adoption") == (root / "marts" / "app_adoption.sql").read_text()
