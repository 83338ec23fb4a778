"""Great Expectations Data Docs open offline: a real headless Chromium, in a network namespace with no network
at all (`ip netns`), loads the index and a validation page of a file's gate from the site on disk, and the
pages' JavaScript (jQuery, bootstrap-table, served from the project's vendored copies) turns the expectation
tables into rendered bootstrap tables. Also: the page is named after the dataset, the sender and the file,
its data asset is named, and no page of the site still points at a CDN.

Needs root (to make the namespace; CI runs as root) and Debian's `chromium` (.ci/run installs it): without
them this test fails, it does not skip.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from covidsync import gx_docs
from covidsync.ingest import batch_gate

PROJECT = Path(__file__).resolve().parents[2]

PROFILE = {  # a vaccination file's batch profile with a duplicate key: one failed critical expectation
    "file_id": 48,
    "file_name": "tiem-chung 2021-11-20.csv",
    "dataset": "vaccinations",
    "facility_code": "17001",
    "rows_total": 1000,
    "rows_rejected": 12,
    "rejected_share": 0.012,
    "max_rejected_share": 0.2,
    "duplicate_keys": 2,
    "null_keys": 0,
    "value_counts": {
        "vaccine_code": {"EU/1/21/1529": 600, "BBIBP-CorV": 388},
        "dose_number": {1: 500, 2: 400, 3: 88},
        "gender": {"male": 480, "female": 508},
    },
    "history": {"days": 12, "rows_mean": 950.0, "rows_std": 80.0},
}


@pytest.fixture
def netns():
    """A network namespace with nothing in it but a loopback that is down: no network at all."""
    assert os.geteuid() == 0, "making a network namespace needs root (CI runs as root)"
    name = f"covidsync-offline-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False)


@pytest.fixture
def site(tmp_path, monkeypatch):
    copy = tmp_path / "great_expectations"
    shutil.copytree(PROJECT / "great_expectations", copy, ignore=shutil.ignore_patterns("uncommitted"))
    monkeypatch.setenv("COVIDSYNC_GX_DIR", str(copy))
    result = batch_gate.run_gate(PROFILE, build_docs=True)
    assert result.failed == ["duplicate_keys 2 > 0"]
    index = batch_gate.build_data_docs(validation_pages=False)
    return index.parent


def chromium(netns: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    assert browser, "Chromium is needed for this test: apt-get install chromium (.ci/run does)"
    profile = tmp_path / f"chromium-profile-{len(list(tmp_path.glob('chromium-profile-*')))}"
    return subprocess.run(
        ["ip", "netns", "exec", netns, browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", f"--user-data-dir={profile}", "--virtual-time-budget=5000", *args],
        capture_output=True, text=True, timeout=120, env={**os.environ, "HOME": str(tmp_path)},
    )  # fmt: skip


def test_data_docs_render_offline_in_a_browser_with_no_network(site, netns, tmp_path):
    # the validation page is named after the dataset, the sender and the file; its data asset is said
    (page,) = (site / "validations" / "vaccinations_batch").rglob("*.html")
    run_folder = page.parent.parent.name
    assert re.fullmatch(r"vaccinations-17001-file48-tiem-chung_2021-11-20\.csv-[0-9a-f]{8}", run_folder)
    text = page.read_text(encoding="utf-8")
    assert "Data asset: None" not in text
    assert "Data asset: vaccinations from facility 17001, file 48 (tiem-chung 2021-11-20.csv)" in text

    # nothing on any page of the site is fetched from the network, and every local asset exists
    for html in site.rglob("*.html"):
        assert gx_docs.fetched_urls(html) == [], html
        for ref in re.findall(r"""<(?:script|link)\b[^>]*\b(?:src|href)=["']([^"'#?]+)""", html.read_text()):
            assert (html.parent / ref).resolve().is_file(), f"{html.name}: {ref} missing"

    # no network in the namespace: the browser could not reach a CDN even if a page asked
    probe = subprocess.run(["ip", "netns", "exec", netns, "ip", "-o", "link"], capture_output=True, text=True)
    links = probe.stdout.strip().splitlines()
    assert len(links) == 1 and " lo: " in links[0] and "state DOWN" in links[0], probe.stdout

    index = chromium(netns, tmp_path, "--dump-dom", (site / "index.html").as_uri())
    assert index.returncode == 0, index.stderr[-2000:]
    # bootstrap-table (the vendored jQuery + bootstrap-table) turned the index's table into a rendered one
    assert 'class="bootstrap-table' in index.stdout, index.stdout[:3000]
    assert run_folder in index.stdout and "vaccinations_batch" in index.stdout

    shown = chromium(netns, tmp_path, "--dump-dom", page.as_uri())
    assert shown.returncode == 0, shown.stderr[-2000:]
    dom = shown.stdout
    assert dom.count('class="bootstrap-table') >= 1, dom[:3000]
    # the expectation table: the failed critical expectation, with its observed value
    assert "expect_column_max_to_be_between" in dom or "duplicate_keys" in dom
    assert re.search(r"<table[^>]*>.*duplicate_keys.*</table>", dom, re.S)

    shots = {}
    for name, target in (("index", site / "index.html"), ("validation", page)):
        shot = tmp_path / f"data-docs-{name}.png"
        proc = chromium(netns, tmp_path, f"--screenshot={shot}", "--window-size=1280,1400", target.as_uri())
        assert proc.returncode == 0 and shot.stat().st_size > 20_000, proc.stderr[-2000:]
        shots[name] = shot
        if os.environ.get("COVIDSYNC_DOCS_SCREENSHOTS"):  # to look at them: a directory
            shutil.copy(shot, Path(os.environ["COVIDSYNC_DOCS_SCREENSHOTS"]) / shot.name)
