"""``covidsync run <dag_id> [--date YYYY-MM-DD]`` and ``covidsync airflow <args>``.

``run`` runs one DAG once, in-process, for a logical date, through ``airflow dags test``: the scheduler
is not needed, every task runs with the real Airflow task runner, and the exit code is non-zero when
any task failed. The date is a local day (Asia/Ho_Chi_Minh): the run's logical date is its 00:00 +07:00.
``run`` keeps Airflow's own output (tens of lines of logging) in a log file and prints one line: what ran,
for which day, how it ended and where the log is; ``--verbose`` streams Airflow's output instead.

``airflow`` passes its arguments to the ``airflow`` command with this project's environment
(:func:`covidsync.airflow_env.environ`: ``.venv/bin`` on ``PATH``, the port of ``COVIDSYNC_AIRFLOW_PORT``);
``covidsync airflow standalone`` is ``make airflow``: it also unpauses the project's DAGs (development
setup only) and says where the UI is and how to log in.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import subprocess
import sys
from pathlib import Path

DAG_ID = re.compile(r"^[a-z][a-z0-9_]*$")


def register(sub) -> None:
    parser = sub.add_parser("run", help="run one DAG once for a logical date (no scheduler needed)")
    parser.add_argument("dag_id")
    parser.add_argument("--date", help="the local day to run for, YYYY-MM-DD (default: today, local time)")
    parser.add_argument(
        "--log",
        type=Path,
        help="write Airflow's output to this file (default: $AIRFLOW_HOME/run-logs/<dag_id>-<date>.log)",
    )
    parser.add_argument(
        "--verbose", action="store_true", help="show Airflow's output on the terminal instead of a log file"
    )
    parser.add_argument(
        "--retries",
        type=int,
        default=0,
        help="task retries for this run (default 0: a failure is reported at once, not after the back-off)",
    )
    parser.set_defaults(func=run)

    # `covidsync airflow ...` is dispatched before argparse (covidsync.cli.main), so that every argument,
    # `--help` included, is the airflow command's own; this entry is for `covidsync --help`.
    parser = sub.add_parser(
        "airflow",
        help="the airflow command with this project's environment (`covidsync airflow standalone` is `make airflow`)",
        add_help=False,
    )
    parser.add_argument("args", nargs=argparse.REMAINDER)
    parser.set_defaults(func=airflow)


def _airflow_bin() -> str:
    candidate = Path(sys.executable).with_name("airflow")
    return str(candidate) if candidate.exists() else "airflow"


def _environ() -> dict[str, str]:
    """Airflow's environment, with its metadata database migrated once per Airflow version."""
    from covidsync import airflow_env, warehouse

    env = airflow_env.environ(warehouse.resolve_url(start=True))
    home = Path(env["AIRFLOW_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    from importlib.metadata import version

    stamp = home / f".migrated-{version('apache-airflow-core')}"
    if env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("sqlite") and not stamp.exists():
        proc = subprocess.run(
            [_airflow_bin(), "db", "migrate"], env=env, capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
            raise SystemExit("covidsync: `airflow db migrate` failed (output above)")
        stamp.touch()
    return env


def logical_date(day: str | None) -> str:
    from covidsync.cli import UserError

    if day is None:
        from zoneinfo import ZoneInfo

        from covidsync.settings import LOCAL_TZ

        return dt.datetime.now(ZoneInfo(LOCAL_TZ)).date().isoformat() + "T00:00:00+07:00"
    try:
        parsed = dt.date.fromisoformat(day)
    except ValueError as exc:
        raise UserError(f"--date must be a day as YYYY-MM-DD, not {day!r}") from exc
    return parsed.isoformat() + "T00:00:00+07:00"


def run(args) -> int:
    if args.verbose:
        return run_dag(args.dag_id, args.date, log=args.log, retries=args.retries)
    from covidsync import settings

    day = logical_date(args.date)[:10]
    log = args.log or settings.airflow_home() / "run-logs" / f"{args.dag_id}-{day}.log"
    return run_dag(args.dag_id, args.date, log=log, retries=args.retries)


def run_dag(dag_id: str, day: str | None, *, log: Path | None = None, retries: int = 0) -> int:
    """Run ``dag_id`` once for the local ``day`` through ``airflow dags test``; return its exit code."""
    from covidsync.cli import UserError

    if not DAG_ID.match(dag_id):
        raise UserError(f"{dag_id!r} is not a DAG id")
    when = logical_date(day)
    env = _environ()
    dag_file = Path(env["AIRFLOW__CORE__DAGS_FOLDER"]) / f"{dag_id}.py"
    if not dag_file.exists():
        known = sorted(p.stem for p in dag_file.parent.glob("*.py") if not p.stem.startswith("_"))
        raise UserError(f"no DAG {dag_id!r}; the DAGs are: {', '.join(known)}")
    env["COVIDSYNC_TASK_RETRIES"] = str(retries)
    command = [_airflow_bin(), "dags", "test", dag_id, when]
    if log:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("w") as out:
            code = subprocess.run(
                command, env=env, stdout=out, stderr=subprocess.STDOUT, check=False
            ).returncode
    else:
        code = subprocess.run(command, env=env, check=False).returncode
    if log:
        shown = show_in_ui(env, dag_id, log)
        if shown:
            log_note = f"; its {shown} task log(s) are in the Airflow UI"
        else:
            log_note = ""
    else:
        log_note = ""
    outcome = "succeeded" if code == 0 else f"FAILED (exit {code})"
    where = f"; Airflow's output is in {log}" if log else ""
    print(f"covidsync: DAG {dag_id} for {when[:10]} {outcome}{where}{log_note}")
    return code


_START = re.compile(r"\[DAG TEST\] starting task_id=(\S+) map_index=(-?\d+)")
_RUNNING = re.compile(r"\[DAG TEST\] running task <TaskInstance: [\w.-]+ (\S+) ")
_END = re.compile(r"\[DAG TEST\] end task task_id=(\S+) map_index=(-?\d+)")


def show_in_ui(env: dict[str, str], dag_id: str, log: Path) -> int:
    """Make a ``covidsync run`` (``airflow dags test``) look like a real run in the development UI: each
    task's part of the output becomes the task's log file where the UI reads it
    (``$AIRFLOW_HOME/logs/dag_id=…/run_id=…/task_id=…/attempt=N.log``; ``dags test`` writes none, so the UI
    said "Log file not found on worker"), and the run's start date becomes the time it really started
    (``dags test`` sets it to the logical date, so a 2021 demo day read as a run of 1843 days). Development
    setup only (SQLite metadata); returns the task logs written."""
    from covidsync import airflow_env

    if not airflow_env.is_development(env) or not log.is_file():
        return 0
    run_id, current, parts, attempts = None, None, [], {}
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True):
        started = _START.search(line)
        if started:
            current = (started.group(1), int(started.group(2)))
            attempts[current] = attempts.get(current, 0) + 1
            parts.append((current, attempts[current], [line]))
            continue
        running = _RUNNING.search(line)
        if running and run_id is None:
            run_id = running.group(1)
        if current is not None:
            parts[-1][2].append(line)
            if _END.search(line):
                current = None
    if run_id is None or not parts:
        return 0
    base = Path(env.get("AIRFLOW__LOGGING__BASE_LOG_FOLDER") or Path(env["AIRFLOW_HOME"]) / "logs")
    for (task_id, map_index), attempt, lines in parts:
        folder = base / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        if map_index >= 0:
            folder = folder / f"map_index={map_index}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"attempt={attempt}.log").write_text("".join(lines), encoding="utf-8")
    airflow_env.set_run_start(env, dag_id, run_id)
    return len(parts)


def airflow(args) -> int:
    env = _environ()
    if args.args[:1] == ["standalone"]:
        return standalone(env, args.args)
    sys.stdout.flush()
    os.execvpe(_airflow_bin(), [_airflow_bin(), *args.args], env)
    return 0  # pragma: no cover


def standalone(env: dict[str, str], argv: list[str]) -> int:
    """``airflow standalone`` with the project's environment (``make airflow``).

    In the development setup the project's DAGs are unpaused, but only once the API server answers: the
    scheduler starts with the other components, and a task started before the API server listens fails
    at once ("Connection refused" on the execution API) and shows as a failed run. So DAGs stay paused at
    creation while Airflow starts, and are unpaused as soon as the UI's health endpoint answers (and as the
    DAG processor finds them)."""
    import signal
    import time
    import urllib.request

    from covidsync import airflow_env

    development = airflow_env.is_development(env)
    if development:
        env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] = "True"
    url = airflow_env.base_url(env)
    print(
        f"covidsync: Airflow UI on {url} once it is up (about a minute); log in as admin with the password in "
        f"{airflow_env.passwords_file(env)} (also printed below as 'Password for user ...'); Ctrl-C stops it",
        flush=True,
    )
    proc = subprocess.Popen([_airflow_bin(), *argv], env=env)
    signal.signal(signal.SIGTERM, lambda *_: proc.terminate())
    up, unpaused, deadline = False, not development, time.monotonic() + 1800
    try:
        while proc.poll() is None:
            if not up:
                try:
                    with urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=10) as answer:
                        up = answer.status == 200
                except OSError:
                    pass
                if up:
                    print(f"covidsync: the Airflow UI is up on {url}", flush=True)
            if up and not unpaused:
                newly = airflow_env.unpause_project_dags(env)
                if newly:
                    print(f"covidsync: unpaused {', '.join(newly)} (development setup)", flush=True)
                unpaused = airflow_env.project_dags_unpaused(env) or time.monotonic() > deadline
            time.sleep(2)
    except KeyboardInterrupt:
        proc.wait()
        raise
    return proc.returncode
