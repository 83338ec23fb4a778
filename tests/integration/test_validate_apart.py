"""`covidsync validate` writes nothing shared: the project's GX folder (validation results, Data Docs) is
byte-for-byte the same after a dry run; with `--data-docs` the dry run's page is in a temporary folder
whose index it prints."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
SAMPLE = PROJECT / "tests" / "fixtures" / "files" / "vaccinations_utf8.csv"


def _tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*")
        if p.is_file()
    }


def validate(*extra: str, gx_dir: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "covidsync", "validate", str(SAMPLE), "--facility", "17001", "--dataset",
         "vaccinations", *extra],
        capture_output=True, text=True, timeout=300, cwd=PROJECT,
        env={**os.environ, "COVIDSYNC_GX_DIR": str(gx_dir)},
    )  # fmt: skip


def test_validate_writes_nothing_shared_and_puts_its_data_docs_apart(warehouse_url, tmp_path):
    shared = tmp_path / "great_expectations"
    shutil.copytree(PROJECT / "great_expectations", shared, ignore=shutil.ignore_patterns("uncommitted"))
    site = shared / "gx" / "uncommitted" / "data_docs" / "local_site"
    site.mkdir(parents=True)
    (site / "index.html").write_text("<html>the shared site</html>")
    before = _tree(shared)

    plain = validate(gx_dir=shared)
    assert plain.returncode in (0, 1), plain.stderr
    assert _tree(shared) == before, "a dry run wrote into the shared GX project"
    assert "Data Docs" not in plain.stderr

    with_docs = validate("--data-docs", gx_dir=shared)
    assert with_docs.returncode in (0, 1), with_docs.stderr
    assert _tree(shared) == before, "a dry run's Data Docs went into the shared site"
    found = re.search(
        r"Data Docs of this dry run \(a temporary folder, not the shared site\): (\S+index\.html)",
        with_docs.stderr,
    )
    assert found, with_docs.stderr
    index = Path(found.group(1))
    try:
        assert index.is_file() and not index.is_relative_to(shared)
        (page,) = (index.parent / "validations").rglob("*.html")
        assert "/vaccinations-17001-file" in str(page)
    finally:
        shutil.rmtree(index.parents[5], ignore_errors=True)
