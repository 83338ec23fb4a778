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

import marts_fixture as fx
import psycopg2
import pytest
from browser import headless

from covidsync import tasks
from covidsync.marts import daily_report, refresh

DAY = dt.date(2021, 11, 10)


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
    assert 'data-charts-rendered="5"' in dom, dom[:500]
    drawn = dict(re.findall(r'data-chart="(\w+)"[^>]*data-marks-drawn="(\d+)"', dom))
    assert set(drawn) == {
        "coverage",
        "positivity",
        "timeliness",
        "compliance",
        "arrivals",
    }  # compliance: tests/integration/test_adoption.py; arrivals: test_arrivals.py
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
        target = daily_report.render(conn, DAY, tmp_path / "reports")
    finally:
        conn.close()
    proc = headless("--dump-dom", target.as_uri(), tmp_path=tmp_path)
    assert proc.returncode == 0 and 'data-charts-rendered="5"' in proc.stdout
    assert "No data yet." in proc.stdout


def test_report_counts_the_open_identity_reviews_and_held_files(warehouse_url, tmp_path):
    conn = psycopg2.connect(warehouse_url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(
                """
                insert into derived.identity_review (review_key, kind, subject_kind, subject_value, candidates, status)
                select 'r' || n, case when n % 3 = 0 then 'shared_phone' else 'link_conflict' end, 'cccd',
                       lpad(n::text, 12, '0'), '[]'::jsonb, case when n % 5 = 0 then 'decided' else 'open' end
                from generate_series(1, 57) as n
                """
            )
            cur.execute("select count(*) from derived.identity_review where status = 'open'")
            open_reviews = cur.fetchone()[0]
            cur.execute(
                "select kind, count(*) from derived.identity_review where status = 'open' group by kind"
            )
            expected = {kind: str(n) for kind, n in cur.fetchall()}
        page = daily_report.build(conn, DAY)
    finally:
        conn.close()
    assert open_reviews == 46
    assert 'id="review-empty"' not in page
    assert f"<b id='review-total'>{open_reviews}</b>" in page
    by_kind = dict(re.findall(r"data-kind='(\w+)'>([\d,]+)<", page))
    assert by_kind == expected and set(expected) == {"link_conflict", "shared_phone"}
    assert "000000000001" not in page, "the report shows counts, never an identifier"


def test_report_speaks_local_time_and_words_not_table_names(rendered):
    path, _ = rendered
    page = path.read_text(encoding="utf-8")
    assert "local (Asia/Ho_Chi_Minh, UTC+7)" in page
    built = re.search(r'<span id="built">([^<]+)</span> local time', page)
    assert built, page[:1000]
    now = daily_report.local_now().replace(tzinfo=None)
    assert abs((dt.datetime.strptime(built.group(1), "%Y-%m-%d %H:%M") - now).total_seconds()) < 300
    for table in re.findall(r"\b(?:mart|derived|ops|core|publish|quarantine)\.[a-z_]+\b", page):
        raise AssertionError(f"the report names a table: {table}")
    # one story on population: either per cent everywhere it is known, or it says which figures are missing
    coverage = page[page.index('id="coverage"') : page.index('id="positivity"')]
    if "not loaded" in coverage:
        assert "Population figures per district are not loaded" in coverage or "% of" not in coverage


def test_a_section_is_added_by_one_call(warehouse_url):
    added = daily_report.add_section(
        "extra-test", "An extra section", lambda cur, day: f"<p>for {day}</p>", before="review"
    )
    try:
        conn = psycopg2.connect(warehouse_url)
        try:
            page = daily_report.build(conn, DAY)
        finally:
            conn.close()
        assert '<h2 id="extra-test">An extra section</h2>' in page
        assert page.index('id="extra-test"') < page.index('id="review"')
        assert added in daily_report.SECTIONS
    finally:
        daily_report.SECTIONS[:] = [s for s in daily_report.SECTIONS if s.anchor != "extra-test"]


def test_names_from_the_warehouse_are_escaped_not_run(warehouse_url, tmp_path):
    """The templates autoescape: a commune name, a facility code and an alert message carrying markup are
    shown as text, and the browser runs none of it (the injected script would retitle the page)."""
    attack = "<script>document.title='injected'</script>"
    conn = psycopg2.connect(warehouse_url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("select commune_code from core.commune order by 1 limit 1")
            commune = cur.fetchone()[0]
            cur.execute(
                "update core.commune set name = %s where commune_code = %s", (f"Xã {attack}", commune)
            )
            cur.execute(
                "insert into mart.arrival_followup_week (commune_code, week, due_tests, sampled, overdue)"
                " values (%s, %s, 3, 1, 2)",
                (commune, DAY - dt.timedelta(days=DAY.weekday())),
            )
            cur.execute(
                "insert into mart.facility_reporting_month (facility_code, month, expected, received, on_time,"
                " completeness_pct, timeliness_pct, rows_total, rows_rejected, grade)"
                " values (%s, %s, 10, 1, 1, 10, 10, 0, 0, 'D')",
                (f"F{attack}", DAY.replace(day=1)),
            )
            cur.execute(
                "insert into ops.alert (kind, subject, message) values ('facility_late', 'x', %s)",
                (f"facility <b>17001</b> {attack} & co",),
            )
        target = daily_report.render(conn, DAY, tmp_path / "reports")
    finally:
        conn.close()
    page = target.read_text(encoding="utf-8")
    assert attack not in page and page.count("<script>") == 1  # the page's own chart check only
    escaped = "&lt;script&gt;document.title=&#39;injected&#39;&lt;/script&gt;"
    assert f"<td>Xã {escaped}</td>" in page  # the commune's name, arrivals section
    assert f"<td>F{escaped}</td>" in page  # the facility code, this month's scorecards
    assert f"<td>facility &lt;b&gt;17001&lt;/b&gt; {escaped} &amp; co</td>" in page  # the alert message
    proc = headless("--dump-dom", target.as_uri(), tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "<title>covidsync daily report 2021-11-10</title>" in proc.stdout
    assert 'data-charts-rendered="5"' in proc.stdout
