"""The monitoring DAG runs end to end through Airflow (`covidsync run`, i.e. `airflow dags test`) on the
hand-made fixture: the day's late and missing facilities are alerted to a real local webhook, scorecards and
reminders reach the outboxes, and the daily report is written. (One DAG run only: Airflow's start-up costs
about a minute here; `refresh_marts` is one call of the same `covidsync.tasks.refresh_marts`.)"""

from __future__ import annotations

import json

import marts_fixture as fx
import psycopg2
import pytest
from cli_process import covidsync


@pytest.mark.airflow
def test_monitor_dag_runs_end_to_end(warehouse_url, areas, tmp_path, webhook, airflow_home):  # noqa: F811
    url, received = webhook
    conn = psycopg2.connect(warehouse_url)
    fx.load(conn)
    env = {
        "AIRFLOW_HOME": str(airflow_home),
        "COVIDSYNC_ALERT_WEBHOOK": url,
        "COVIDSYNC_REPORT_DIR": str(tmp_path / "reports"),
    }
    log = tmp_path / "run.log"
    proc = covidsync("run", "monitor_facility_reporting", "--date", "2021-11-03", "--log", str(log), env=env)
    assert proc.returncode == 0, log.read_text()[-4000:]

    with conn.cursor() as cur:
        cur.execute("select count(*) from mart.facility_reporting_day")
        assert cur.fetchone()[0] == 9
        cur.execute("select subject from ops.alert where notified_at is not null order by 1")
        assert [s for (s,) in cur.fetchall()] == ["facility:17002:2021-11-03", "facility:17003:2021-11-03"]
    conn.close()
    assert [a["subject"] for a in received[0]["alerts"]] == [
        "facility:17002:2021-11-03",
        "facility:17003:2021-11-03",
    ]
    assert (areas["outbox"] / "17003" / "reminder-2021-11-03-not_reported.txt").exists()
    card = json.loads((areas["outbox"] / "17001" / "scorecard-2021-11.json").read_text(encoding="utf-8"))
    assert card["grade"] == "A"
    assert (tmp_path / "reports" / "daily-2021-11-03.html").exists()
    assert (tmp_path / "reports" / "latest.html").exists()
    assert fx.PERSONS["P1"][0] not in log.read_text(), "no identity value in the task log"
