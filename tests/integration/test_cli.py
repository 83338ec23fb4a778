"""The ``covidsync`` command as an operator uses it: a real process, a real warehouse, real Airflow."""

from __future__ import annotations

import psycopg2
import pytest
from cli_process import covidsync


def test_help_lists_the_operator_commands():
    proc = covidsync("--help")
    assert proc.returncode == 0, proc.stderr
    for command in ("warehouse", "db", "run", "demo", "generate", "simulator"):
        assert command in proc.stdout, f"`covidsync --help` should list {command}"


def test_db_upgrade_then_status(empty_db):
    env = {"COVIDSYNC_WAREHOUSE_URL": empty_db}
    first = covidsync("db", "upgrade", env=env)
    assert first.returncode == 0, first.stderr
    assert "migrations applied: 0001" in first.stdout
    again = covidsync("db", "upgrade", env=env)
    assert again.returncode == 0 and "up to date" in again.stdout
    status = covidsync("db", "status", env=env)
    assert status.returncode == 0
    assert "applied  0001_layers_and_operations.sql" in status.stdout
    assert "pending" not in status.stdout


def test_warehouse_url_prefers_the_configured_url_and_hides_nothing_it_should_not():
    proc = covidsync("warehouse", "url", env={"COVIDSYNC_WAREHOUSE_URL": "postgresql://u:secret@db:5432/w"})
    assert proc.stdout.strip() == "postgresql://u:secret@db:5432/w"
    status = covidsync(
        "warehouse", "status", env={"COVIDSYNC_WAREHOUSE_URL": "postgresql://u:secret@db:5432/w"}
    )
    assert "secret" not in status.stdout, "status output must not print the password"


def test_unreachable_warehouse_is_a_clear_error():
    proc = covidsync("db", "upgrade", env={"COVIDSYNC_WAREHOUSE_URL": "postgresql://nobody@127.0.0.1:9/none"})
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr, "an operator gets a message, not a traceback"
    assert "127.0.0.1" in proc.stderr


def test_run_refuses_an_unknown_dag_and_lists_the_known_ones(warehouse_url, airflow_home):
    proc = covidsync("run", "no_such_dag", env={"AIRFLOW_HOME": str(airflow_home)})
    assert proc.returncode == 2
    assert "no DAG 'no_such_dag'" in proc.stderr and "ingest_facility_files" in proc.stderr


def test_run_refuses_a_month_first_or_malformed_date(warehouse_url, tmp_path):
    proc = covidsync(
        "run", "ingest_facility_files", "--date", "11/20/2021", env={"AIRFLOW_HOME": str(tmp_path)}
    )
    assert proc.returncode == 2 and "YYYY-MM-DD" in proc.stderr


@pytest.mark.airflow
def test_run_drives_a_dag_through_airflow_and_fails_when_a_task_fails(
    warehouse_url, areas, tmp_path, airflow_home
):
    registry = areas["landing"] / "registry" / "facilities.csv"
    registry.parent.mkdir(parents=True)
    registry.write_text(
        "facility_code,name,facility_type,province_code,district_code,commune_code\n"
        "17001,Bệnh viện Đa khoa tỉnh Hòa Bình,provincial_hospital,17,148,04789\n"
    )
    from ingest_rows import VACCINATION, write_csv

    folder = areas["landing"] / "17001" / "vaccinations"
    write_csv(
        folder / "2021-11-20.csv",
        [VACCINATION, dict(VACCINATION, **{"Mã bản ghi": "R2", "Mũi số": "2", "Ngày tiêm": "15/10/2021"})],
    )
    (folder / "only_ids.csv").write_text("citizen_id\n017090001234\n")
    env = {"AIRFLOW_HOME": str(airflow_home)}
    log = tmp_path / "run.log"
    proc = covidsync(
        "run", "ingest_facility_files", "--date", "2021-11-20", "--log", str(log), env=env, timeout=600
    )
    assert proc.returncode == 0, log.read_text()[-4000:]
    assert "succeeded" in proc.stdout
    # one line on the terminal (Airflow's own output is in the log), and the run as the UI shows it: each
    # task's log where the UI reads it, and a start date that is when it ran, not the 2021 logical date
    assert len(proc.stdout.strip().splitlines()) == 1 and "task log(s) are in the Airflow UI" in proc.stdout
    assert "XCom not found" not in log.read_text(), "summarise read one mapped result past the end"
    task_logs_dir = airflow_home / "logs" / "dag_id=ingest_facility_files"
    written = {p.parent.name for p in task_logs_dir.rglob("attempt=1.log")}
    assert {"task_id=register_files", "task_id=summarise"} <= written, written
    import sqlite3

    with sqlite3.connect(airflow_home / "airflow.db") as meta:
        ((started, logical),) = meta.execute(
            "select start_date, logical_date from dag_run where dag_id = 'ingest_facility_files'"
        ).fetchall()
    assert logical.startswith("2021-11-19 17:00") and not started.startswith("2021"), (started, logical)
    # the UI names each mapped group by its first file (map_index_template), not by its index
    with sqlite3.connect(airflow_home / "airflow.db") as meta:
        labels = [
            r[0] for r in meta.execute("select rendered_map_index from task_instance where map_index >= 0")
        ]
    assert labels and all(
        label and label.split(" (+")[0] in ("2021-11-20.csv", "only_ids.csv") for label in labels
    ), labels
    conn = psycopg2.connect(warehouse_url)
    with conn.cursor() as cur:
        cur.execute("select original_name, status, file_codes from ops.landing_file order by 1")
        assert cur.fetchall() == [
            ("2021-11-20.csv", "merged", []),
            ("only_ids.csv", "rejected", ["missing_columns"]),
        ]
        cur.execute("select count(*) from core.vaccination")
        assert cur.fetchone()[0] == 2
    conn.close()
    assert (areas["outbox"] / "17001" / "2021-11-20.csv.result.json").exists()
    # no identity value in the task logs or in any XCom the run pushed
    import sqlite3

    airflow_db = sqlite3.connect(airflow_home / "airflow.db")
    xcoms = " ".join(str(row[0]) for row in airflow_db.execute("select value from xcom"))
    airflow_db.close()
    assert "pending" in xcoms or "by_status" in xcoms, "the run's summaries are in XCom"
    task_logs = log.read_text() + "".join(
        f.read_text(errors="replace") for f in airflow_home.rglob("*.log") if f.is_file()
    )
    for secret in ("017090001234", "0912345678", "Nguyễn Văn An"):
        assert secret not in task_logs, "an identity value reached a task log"
        assert secret not in xcoms, "an identity value reached XCom"

    registry.write_text("facility_code,name\n1700X,Broken\n")  # a broken registry must fail the task
    broken = covidsync("run", "ingest_facility_files", "--date", "2021-11-21", "--log", str(log), env=env)
    assert broken.returncode != 0, "a failed task must fail the run"
    assert "FAILED" in broken.stdout
