"""The daily HTML report, opened in a real headless Chromium (Debian's package): it renders its three charts
from inline SVG with nothing fetched, and shows the review section empty with a note when there is no queue.

Chromium is part of the test environment (.ci/run installs Debian's `chromium`): a missing browser fails
this test, it does not skip it.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess

import marts_fixture as fx
import psycopg2
import pytest

from covidsync import tasks
from covidsync.marts import refresh, report

DAY = dt.date(2021, 11, 10)


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "Chromium is needed for this test: apt-get install chromium (.ci/run does)"
    return found


def headless(*args: str, tmp_path) -> subprocess.CompletedProcess:
    profile = tmp_path / "chromium-profile"
    return subprocess.run(
        [
            chromium(),
            "--headless",
            "--no-sandbox",  # CI runs as root
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            "--disable-background-networking",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=3000",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HOME": str(tmp_path)},
    )


@pytest.fixture
def rendered(warehouse_url, tmp_path, monkeypatch):
    conn = psycopg2.connect(warehouse_url)
    try:
        fx.load(conn)
        refresh.refresh(conn, DAY, cutoff="20:00")
    finally:
        conn.close()
    monkeypatch.setenv("COVIDSYNC_REPORT_DIR", str(tmp_path / "reports"))
    out = tasks.render_daily_report(DAY.isoformat())
    return tmp_path / "reports" / f"daily-{DAY.isoformat()}.html", out


def test_report_renders_its_charts_in_a_real_browser(rendered, tmp_path):
    path, out = rendered
    assert out == {"report": str(path)}
    assert (path.parent / "latest.html").read_bytes() == path.read_bytes()
    page = path.read_text(encoding="utf-8")
    # offline: no script, style or image is fetched from anywhere
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "Nguyễn Văn An" not in page and fx.PERSONS["P1"][0] not in page

    proc = headless("--dump-dom", path.as_uri(), tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    # the inline check ran after layout: every chart drew marks with a real size
    assert 'data-charts-rendered="4"' in dom, dom[:500]
    drawn = dict(re.findall(r'data-chart="(\w+)"[^>]*data-marks-drawn="(\d+)"', dom))
    assert set(drawn) == {
        "coverage",
        "positivity",
        "timeliness",
        "compliance",
    }  # compliance: tests/integration/test_adoption.py
    # districts 148 (doses 1 and 2) and 150 (dose 1; its dose-2 bar has no width, nobody has dose 2)
    assert int(drawn["coverage"]) == 3
    assert int(drawn["positivity"]) >= 2
    assert int(drawn["timeliness"]) == 30  # 3 facilities x 10 days since they registered
    assert dom.count('data-state="missing"') > 0 and dom.count('data-state="on_time"') > 0
    assert 'id="review-empty"' in dom

    shot = tmp_path / "report.png"
    proc = headless(f"--screenshot={shot}", "--window-size=1200,1800", path.as_uri(), tmp_path=tmp_path)
    assert proc.returncode == 0 and shot.stat().st_size > 10_000
    if os.environ.get("COVIDSYNC_REPORT_SCREENSHOT"):  # to look at it: set a path
        shutil.copy(shot, os.environ["COVIDSYNC_REPORT_SCREENSHOT"])


def test_report_with_no_data_still_renders(warehouse_url, tmp_path):
    conn = psycopg2.connect(warehouse_url)
    try:
        target = report.render(conn, DAY, tmp_path / "reports")
    finally:
        conn.close()
    proc = headless("--dump-dom", target.as_uri(), tmp_path=tmp_path)
    assert proc.returncode == 0 and 'data-charts-rendered="4"' in proc.stdout
    assert "No data yet." in proc.stdout


def test_report_counts_open_review_items_when_the_queue_exists(warehouse_url, tmp_path):
    conn = psycopg2.connect(warehouse_url)
    try:
        with conn, conn.cursor() as cur:  # the shape another stage's review queue may take
            cur.execute("create table ops.review_item (item_id int, kind text, resolved_at timestamptz)")
            cur.execute(
                "insert into ops.review_item values (1, 'identity_conflict', null), (2, 'identity_conflict', null),"
                " (3, 'identity_conflict', now()), (4, 'held_file', null)"
            )
        page = report.build(conn, DAY)
    finally:
        conn.close()
    assert 'id="review-empty"' not in page
    assert "<tr><td>held_file</td><td>1</td></tr>" in page
    assert "<tr><td>identity_conflict</td><td>2</td></tr>" in page
