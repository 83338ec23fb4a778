"""PC-Covid adoption and QR compliance (adoption.md) against a real PostgreSQL: the marts equal the generator's
ground truth; the silent-venue threshold's boundary; the district lists in the outbox; the low-compliance
alert once per district and day, through the alert channels.

The generated app-user counts and population go through the ingest engine as landing files (registered, each
file in the order received, as the DAGs take them); venues and check-ins are loaded straight into core by the
sample, so that it controls every scan and its QR kind."""

from __future__ import annotations

import csv
import datetime as dt
from decimal import Decimal

import psycopg2
import pytest

from covidsync.marts import adoption, notify, refresh
from covidsync.sample.adoption import AdoptionSample


def _num(value):
    return None if value is None else float(value) if isinstance(value, Decimal) else value


@pytest.fixture(scope="module")
def world(module_warehouse_url, tmp_path_factory):
    sample = AdoptionSample(seed=5, days=10)
    conn = psycopg2.connect(module_warehouse_url)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("COVIDSYNC_DATA_DIR", str(tmp_path_factory.mktemp("adoption-data")))
            for var in ("LANDING", "OUTBOX", "ARCHIVE", "REJECTED"):
                mp.delenv(f"COVIDSYNC_{var}_DIR", raising=False)
            files = sample.load(conn)
        refresh.refresh(conn, sample.end, names=refresh.ADOPTION)
    finally:
        conn.close()
    assert {f["status"] for f in files} == {"loaded"} and len(files) == len(sample.app_user_files()) + 1
    return module_warehouse_url, sample, sample.truth()


@pytest.fixture
def conn(world):
    connection = psycopg2.connect(world[0])
    yield connection
    connection.close()


def _rows(conn, sql, *params) -> list[dict]:
    with conn.cursor() as cur:
        cur.execute(sql, params)
        names = [d.name for d in cur.description]
        rows = [dict(zip(names, (_num(v) for v in r), strict=True)) for r in cur.fetchall()]
    conn.rollback()
    return rows


def test_adoption_equals_the_ground_truth(world, conn):
    _, sample, truth = world
    (province,) = _rows(
        conn,
        "select * from mart.app_adoption where area_level = 'province' and area_code = '17' and day = %s",
        sample.end,
    )
    renamed = {"registered_share_smartphone": "registered_share_devices"}  # the marts name no "phone"
    assert {k: province[renamed.get(k, k)] for k in truth["province"]} == truth["province"]
    assert province["provinces_ranked"] == 63 and 30 <= province["national_rank"] <= 40  # "35th of 63"
    assert 0.15 < province["registered_share_population"] < 0.3
    districts = {
        r["area_code"]: r
        for r in _rows(
            conn, "select * from mart.app_adoption where area_level = 'district' and day = %s", sample.end
        )
    }
    assert set(districts) == set(truth["districts"])
    for code, want in truth["districts"].items():
        got = districts[code]
        assert (
            got["registered_users"],
            got["registered_share_population"],
            got["registered_share_devices"],
        ) == (
            want["registered_users"],
            want["registered_share_population"],
            want["registered_share_smartphone"],
        ), code
    # the ramp: from nothing in late September to the figure above
    (first,) = _rows(
        conn, "select registered_users from mart.app_adoption where area_code = '17' and day = '2021-09-27'"
    )
    assert first["registered_users"] < province["registered_users"] / 10
    # a day re-sent with other counts: the latest file wins, the earlier figures are kept in the history
    corrected = sample.counts[-1]
    history = _rows(conn, "select day, area_code, registered_users from core.app_user_count_history")
    assert sorted((h["day"], h["area_code"]) for h in history) == sorted((d, a) for d, a, *_ in corrected)
    (now,) = _rows(
        conn,
        "select registered_users from core.app_user_count where day = %s and area_code = %s",
        corrected[0][0],
        corrected[0][1],
    )
    assert now["registered_users"] == corrected[0][2]


def test_compliance_and_scanning_equal_the_ground_truth(world, conn):
    _, sample, truth = world
    compliance = {
        r["district_code"]: r
        for r in _rows(
            conn,
            "select * from mart.venue_compliance_day where day = %s and commune_code = 'all' and venue_type = 'all'",
            sample.end,
        )
    }
    scanning = {
        r["district_code"]: r
        for r in _rows(conn, "select * from mart.population_scanning where day = %s", sample.end)
    }
    silent = {}
    for r in _rows(
        conn, "select district_code, venue_code from mart.silent_venue where as_of_day = %s", sample.end
    ):
        silent.setdefault(r["district_code"], []).append(r["venue_code"])
    for code, want in truth["districts"].items():
        got = compliance[code]
        assert (got["registered_venues"], got["active_venues"], got["compliance_share"]) == (
            want["registered_venues"],
            want["active_venues"],
            want["compliance_share"],
        ), code
        assert got["scans"] == want["scans"]
        assert sorted(silent.get(code, [])) == want["silent_venues"], code
        s = scanning[code]
        assert (s["persons_scanned"], s["persons_share_population"], s["scans"]) == (
            want["persons_scanned"],
            want["persons_share_population"],
            want["scans"],
        ), code
        assert (s["share_card_qr"], s["share_personal_qr"], s["share_typed"]) == (
            want["share_card_qr"],
            want["share_personal_qr"],
            want["share_typed"],
        ), code
    by_type = {
        r["venue_type"]: r
        for r in _rows(
            conn,
            "select venue_type, sum(registered_venues) as registered_venues, sum(active_venues) as active_venues"
            " from mart.venue_compliance_day where day = %s and commune_code = 'all' and venue_type <> 'all'"
            " group by venue_type",
            sample.end,
        )
    }
    assert {
        k: {"registered_venues": v["registered_venues"], "active_venues": v["active_venues"]}
        for k, v in by_type.items()
    } == truth["venue_types"]
    # the sample exercised what the figures are about: some districts under the threshold, some silent venues
    assert 0 < sum(w["below_threshold"] for w in truth["districts"].values()) < len(truth["districts"])
    assert sum(len(w["silent_venues"]) for w in truth["districts"].values()) > 5
    # no personal data: pseudonymous counts only, no person key in any mart
    for table in ("app_adoption", "venue_compliance_day", "silent_venue", "population_scanning"):
        columns = {
            r["column_name"]
            for r in _rows(
                conn,
                "select column_name from information_schema.columns where table_schema = 'mart' and table_name = %s",
                table,
            )
        }
        assert not columns & {"person_key", "citizen_id", "phone", "full_name"}


def test_a_venue_silent_exactly_the_threshold_is_listed_one_day_less_is_not(world, conn, monkeypatch):
    _, sample, truth = world
    listed, not_listed = truth["boundary"]["listed"], truth["boundary"]["not_listed"]
    rows = {
        r["venue_code"]: r
        for r in _rows(
            conn,
            "select venue_code, silent_days, last_scan_day from mart.silent_venue where as_of_day = %s",
            sample.end,
        )
    }
    assert rows[listed]["silent_days"] == 3 and rows[listed]["last_scan_day"] == sample.end - dt.timedelta(
        days=3
    )
    assert not_listed not in rows
    monkeypatch.setenv("COVIDSYNC_SILENT_VENUE_DAYS", "2")
    refresh.refresh(conn, sample.end, names=("silent_venue",))
    try:
        codes = {r["venue_code"] for r in _rows(conn, "select venue_code from mart.silent_venue")}
        assert {listed, not_listed} <= codes, "with a threshold of 2 both are silent long enough"
    finally:
        monkeypatch.setenv("COVIDSYNC_SILENT_VENUE_DAYS", "3")
        refresh.refresh(conn, sample.end, names=("silent_venue",))


def test_district_lists_and_one_alert_per_district_and_day(world, conn, tmp_path):
    _, sample, truth = world
    low = sorted(d for d, w in truth["districts"].items() if w["below_threshold"])
    first = adoption.monitor(conn, sample.end, tmp_path, min_compliance=0.6)
    assert sorted(first["low_compliance"]) == low and sorted(first["raised"]) == low
    for code, want in truth["districts"].items():
        path = tmp_path / "districts" / code / f"silent-venues-{sample.end.isoformat()}.csv"
        with path.open(encoding="utf-8") as fh:
            listed = [r["venue_code"] for r in csv.DictReader(fh)]
        assert sorted(listed) == want["silent_venues"], code
    # a rerun, and a rerun after the alerts were closed: no second alert for the same district and day
    assert adoption.monitor(conn, sample.end, tmp_path, min_compliance=0.6)["raised"] == []
    with conn, conn.cursor() as cur:
        cur.execute("update ops.alert set resolved_at = now() where kind = %s", (adoption.ALERT_KIND,))
    assert adoption.monitor(conn, sample.end, tmp_path, min_compliance=0.6)["raised"] == []
    alerts = _rows(
        conn, "select subject, message from ops.alert where kind = %s order by subject", adoption.ALERT_KIND
    )
    assert [a["subject"] for a in alerts] == [f"district:{d}:{sample.end.isoformat()}" for d in low]
    # the day before is another day: its own alerts (for the districts under the threshold that day)
    before = adoption.monitor(conn, sample.end - dt.timedelta(days=1), tmp_path, min_compliance=0.6)
    assert before["raised"] == before["low_compliance"] and before["raised"]
    # the alert channels (webhook, e-mail) deliver them: they are pending for the notifier
    pending = {(a["kind"], a["subject"]) for a in notify.pending(conn)}
    conn.rollback()
    assert {
        (adoption.ALERT_KIND, f"district:{d}:{(sample.end - dt.timedelta(days=1)).isoformat()}")
        for d in before["raised"]
    } <= pending


def test_the_daily_report_shows_the_districts_side_by_side_in_a_real_browser(world, conn, tmp_path):
    import re
    import shutil
    import subprocess

    from covidsync.marts import daily_report

    _, sample, truth = world
    path = daily_report.render(conn, sample.end, tmp_path / "reports")
    page = path.read_text(encoding="utf-8")
    assert 'id="adoption"' in page
    province = truth["province"]
    assert f"{province['registered_users']:,} PC-Covid users" in page
    assert f"{province['national_rank']}th of {province['provinces_ranked']} provinces" in page
    rows = re.findall(r"<tr( class=\"low\")?><td>(\d{3})</td>", page)
    assert {code for _, code in rows} == set(truth["districts"])
    assert sorted(code for low, code in rows if low) == sorted(
        d for d, w in truth["districts"].items() if w["below_threshold"]
    )
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    assert browser, "Chromium is needed for this test: apt-get install chromium (.ci/run does)"
    proc = subprocess.run(
        [
            browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
            "--disable-background-networking", f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=3000", "--dump-dom", path.as_uri(),
        ],
        capture_output=True, text=True, timeout=120, env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    drawn = dict(re.findall(r'data-chart="(\w+)"[^>]*data-marks-drawn="(\d+)"', proc.stdout))
    # the compliance trend: a line and a point per district and day
    assert int(drawn["compliance"]) == len(truth["districts"]) * (sample.days + 1)


def test_the_generator_writes_the_feeds_and_their_ground_truth(tmp_path):
    import json

    from covidsync.sample.generator import Options, generate

    summary = generate(
        Options(out=tmp_path, seed=3, persons=60, days=2, clean=True, bomb_mb=1, adoption=True)
    )
    files = sorted((tmp_path / "landing" / "pccovid" / "app_users").glob("*.csv"))
    assert (
        summary["adoption"]["app_user_files"] == len(files) >= 3
    )  # the ramp so far, a file a day, the correction
    assert files[0].name == "app_users_2021-09-27_2021-10-31.csv", "from 27 September 2021 to the first day"
    with files[0].open(encoding="utf-8") as fh:
        header = next(csv.reader(fh))
    assert header == ["day", "area_code", "registered_users", "active_users_7d"]
    assert [f.name for f in files if f.name.endswith("_correction.csv")], "a day re-sent with other counts"
    with (tmp_path / "landing" / "registry" / "population.csv").open(encoding="utf-8") as fh:
        population = {r["area_code"]: r for r in csv.DictReader(fh)}
    assert 840_000 < int(population["17"]["population"]) < 870_000 and population["17"]["smartphone_owners"]
    assert any(r["smartphone_owners"] == "" for r in population.values()), "some communes have no estimate"
    truth = json.loads((tmp_path / "truth" / "adoption.json").read_text(encoding="utf-8"))
    assert truth["province"]["provinces_ranked"] == 63 and set(truth["districts"])
