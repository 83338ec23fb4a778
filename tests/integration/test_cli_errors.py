"""`covidsync` meets foreseeable conditions with one line saying what happened and what to do, a non-zero
exit code and no traceback; `--debug` shows the traceback. One test per condition, each a real process."""

from __future__ import annotations

import socket
import subprocess

import pytest
from cli_process import covidsync

DOWN = "postgresql://nobody@127.0.0.1:9/none"  # nothing listens on port 9


def one_line(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("command", [("files", "list"), ("review", "list"), ("publish", "status")])
def test_warehouse_down(command):
    line = one_line(covidsync(*command, env={"COVIDSYNC_WAREHOUSE_URL": DOWN}))
    assert line.startswith("covidsync: cannot reach the warehouse at postgresql://nobody@127.0.0.1:9/none")
    assert "make warehouse" in line and "COVIDSYNC_WAREHOUSE_URL" in line


def test_sync_api_down(tmp_path):
    port = closed_port()
    proc = covidsync(
        "consumer", "pccovid", "--api", f"http://127.0.0.1:{port}/covidsync", "--token", "t",
        "--store", str(tmp_path / "copy.sqlite"),
    )  # fmt: skip
    line = one_line(proc)
    assert f"could not connect to http://127.0.0.1:{port}/covidsync" in line
    assert "make airflow" in line and "--api" in line


def test_consumer_without_a_token(tmp_path):
    proc = covidsync(
        "consumer", "vneid", "--store", str(tmp_path / "s.sqlite"), env={"COVIDSYNC_SYNC_TOKEN": ""}
    )
    assert one_line(proc) == "covidsync: give the app's token: --token or COVIDSYNC_SYNC_TOKEN"
    assert proc.returncode == 2


def test_missing_file():
    proc = covidsync("validate", "no/such/file.csv", "--facility", "12345", "--dataset", "vaccinations")
    assert one_line(proc) == "covidsync: no/such/file.csv is not a file"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("explain", "012345678901", "--date", "2021-13-01"), "a day as YYYY-MM-DD, not '2021-13-01'"),
        (("status", "build", "--date", "20/11/2021"), "a day as YYYY-MM-DD, not '20/11/2021'"),
        (("files", "process", "seven"), "invalid int value: 'seven'"),
        (("validate", "x.csv", "--facility", "1", "--dataset", "people"), "invalid choice: 'people'"),
    ],
)
def test_bad_argument(args, expected):
    proc = covidsync(*args)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("usage: covidsync"), proc.stderr
    error = proc.stderr.strip().splitlines()[-1]
    assert error.startswith("covidsync ") and "error: argument" in error and expected in error, proc.stderr


def test_run_with_a_malformed_day(tmp_path):
    proc = covidsync("run", "refresh_marts", "--date", "11/20/2021", env={"AIRFLOW_HOME": str(tmp_path)})
    assert one_line(proc) == "covidsync: --date must be a day as YYYY-MM-DD, not '11/20/2021'"


def test_airflow_help_is_airflows_help():
    proc = covidsync("airflow", "--help", env={"COVIDSYNC_WAREHOUSE_URL": DOWN})
    assert proc.returncode == 0, proc.stderr
    assert "usage: airflow" in proc.stdout.lower() and "standalone" in proc.stdout


def test_debug_shows_the_traceback():
    proc = covidsync("--debug", "files", "list", env={"COVIDSYNC_WAREHOUSE_URL": DOWN})
    assert proc.returncode != 0
    assert "Traceback" in proc.stderr and "WarehouseUnreachable" in proc.stderr
    later = covidsync("files", "list", "--debug", env={"COVIDSYNC_WAREHOUSE_URL": DOWN})
    assert "Traceback" in later.stderr, "--debug is understood after the command too"
