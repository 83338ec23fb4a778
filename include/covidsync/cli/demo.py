"""``covidsync demo``: sample data, every DAG once through Airflow, and a summary a person can read.

Safe to run again: the sample data is laid out once per set of parameters (a stamp file in the data
directory records it), and every DAG is idempotent for its input, so a second demo changes nothing the
first made correctly.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

# The DAGs the demo runs, in pipeline order (each one added as its issue lands).
DEMO_DAGS = [
    "ingest_facility_files",
    "ingest_checkins",
    "build_health_status",
    "publish_shared_datasets",
    "refresh_marts",
    "monitor_facility_reporting",
]
SAMPLE = {"seed": 2021, "persons": 2000, "days": 3, "start": "2021-11-18"}
# the generator's optional feeds the demo lays out too, so that a newcomer's report has every section:
# the PC-Covid adoption feeds (adoption.md) and arrivals into the province (arrivals.md)
FEEDS = ("adoption", "arrivals")


def SAMPLE_LAST_DAY() -> str:  # noqa: N802 (a constant of the sample, computed)
    return (dt.date.fromisoformat(SAMPLE["start"]) + dt.timedelta(days=SAMPLE["days"] - 1)).isoformat()


def register(sub) -> None:
    parser = sub.add_parser("demo", help="lay out sample data, run every DAG once, print a summary")
    parser.add_argument("--persons", type=int, default=SAMPLE["persons"])
    parser.add_argument("--days", type=int, default=SAMPLE["days"])
    parser.add_argument("--seed", type=int, default=SAMPLE["seed"])
    parser.set_defaults(func=run)


def lay_out_sample(data_dir: Path, seed: int, persons: int, days: int) -> bool:
    """Generate the sample once; return True when it was generated now."""
    params = {"seed": seed, "persons": persons, "days": days, "start": SAMPLE["start"], "feeds": list(FEEDS)}
    stamp = data_dir / ".demo-sample.json"
    if stamp.exists() and json.loads(stamp.read_text()) == params:
        return False
    data_dir.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "covidsync",
        "generate",
        "--seed",
        str(seed),
        "--persons",
        str(persons),
        "--days",
        str(days),
        "--start",
        SAMPLE["start"],
        "--out",
        str(data_dir),
        *(f"--{feed}" for feed in FEEDS),
    ]
    # the generator's own output (a JSON line for scripts, then a rate) is not for the demo's reader:
    # its last line says what was written; the whole output only if it failed
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        from covidsync.errors import CovidsyncError

        raise CovidsyncError(f"the sample-data generator failed (exit {proc.returncode}; output above)")
    lines = [line for line in proc.stdout.splitlines() if line.startswith("wrote ")]
    if lines:
        print(f"sample data: {lines[-1]}")
    stamp.write_text(json.dumps(params))
    return True


def stale_sample_hint(url: str, data_dir: Path) -> str | None:
    """One line for a newcomer when the laid-out sample was already processed into another warehouse (its files
    are in the archive, the landing zone is empty) while this warehouse has registered no file: the demo would
    find nothing to do and show empty tables. None otherwise."""
    from covidsync import db

    archive = data_dir / "archive"
    if not archive.is_dir() or not any(p.is_file() for p in archive.rglob("*")):
        return None
    with db.session(url) as conn, conn.cursor() as cur:
        cur.execute("select exists (select from ops.landing_file)")
        registered = cur.fetchone()[0]
    if registered:
        return None
    return (
        f"note: this warehouse has no file yet, but the sample in {data_dir} was already processed (its files are"
        f" in {archive}): the demo will find nothing to load; remove {data_dir} and run it again to start afresh"
    )


def run(args) -> int:
    from covidsync import db, settings, warehouse
    from covidsync.cli.run import run_dag

    url = warehouse.resolve_url(start=True)
    applied = db.upgrade(url)
    print(
        f"warehouse: {db.redact(url)}; migrations {'applied: ' + ', '.join(applied) if applied else 'up to date'}"
    )
    data_dir = settings.data_dir()
    generated = lay_out_sample(data_dir, args.seed, args.persons, args.days)
    print(f"sample data: {'generated' if generated else 'already laid out'} in {data_dir}")
    if not generated:
        hint = stale_sample_hint(url, data_dir)
        if hint:
            print(hint)

    last_day = dt.date.fromisoformat(SAMPLE["start"]) + dt.timedelta(days=args.days - 1)
    logs = settings.airflow_home() / "demo-logs"
    # Airflow keeps one `covidsync run` (`airflow dags test`) per DAG and logical date: a second demo's run
    # replaces the first one's in the UI; its Airflow output is kept beside, as <dag_id>.previous.log
    replaced = []
    for dag_id in DEMO_DAGS:
        log = logs / f"{dag_id}.log"
        if log.exists():
            log.replace(logs / f"{dag_id}.previous.log")
            replaced.append(dag_id)
    failed = []
    for dag_id in DEMO_DAGS:
        if run_dag(dag_id, last_day.isoformat(), log=logs / f"{dag_id}.log") != 0:
            failed.append(dag_id)
    if replaced:  # before the summary: CI compares the two demos' summaries
        print(
            f"note: Airflow keeps one run per DAG and day, so this demo's runs for {last_day.isoformat()} replaced "
            f"the previous demo's in the UI{'' if generated else ' (they found nothing new to do)'}; the previous "
            f"runs' output is in "
            f"{logs}/<dag_id>.previous.log"
        )
    print()
    print(summary(url))
    if failed:
        print(f"\nFAILED: {', '.join(failed)}; see the logs in {logs}")
        return 1
    return 0


def summary(url: str) -> str:
    """What loaded, what was refused and why, and where to look next."""
    from covidsync import airflow_env, db, settings

    lines = ["=== covidsync demo: summary ==="]
    conn = db.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("select count(*) from ops.facility")
            lines.append(f"facilities registered: {cur.fetchone()[0]}")
            cur.execute(
                """
                select coalesce(dataset, '-'), status, count(*), coalesce(sum(rows_loaded), 0),
                       coalesce(sum(rows_rejected), 0)
                from ops.landing_file group by 1, 2 order by 1, 2
                """
            )
            rows = cur.fetchall()
            lines.append("files by dataset and status (rows loaded / rows rejected):")
            lines += [f"  {d:<14} {s:<10} {n:>5} files  {ok:>8} / {bad:<8}" for d, s, n, ok, bad in rows] or [
                "  (none)"
            ]
            cur.execute(
                """
                select code, count(*) from ops.landing_file, unnest(file_codes) as code
                group by code order by count(*) desc, code
                """
            )
            codes = cur.fetchall()
            if codes:
                lines.append("files refused, by reason:")
                lines += [f"  {code:<20} {n}" for code, n in codes]
            cur.execute("select to_regclass('quarantine.row_problem') is not null")
            if cur.fetchone()[0]:
                cur.execute(
                    "select code, severity, count(*) from quarantine.row_problem group by 1, 2 order by 3 desc, 1"
                )
                lines.append("row problems, by code:")
                lines += [f"  {c:<26} {s:<8} {n}" for c, s, n in cur.fetchall()] or ["  (none)"]
            cur.execute("select count(*) from core.checkin")
            lines.append(f"check-ins in core (pseudonymous): {cur.fetchone()[0]}")
            cur.execute(
                """
                select count(*), count(citizen_id),
                       (select count(*) from derived.identity_review where status = 'open')
                from derived.person
                """
            )
            persons, with_cccd, reviews = cur.fetchone()
            lines.append(
                f"persons resolved: {persons} ({with_cccd} with a CCCD); identity reviews open: {reviews}"
            )
            cur.execute(
                """
                select card_colour, count(*), count(*) filter (where f0), count(*) filter (where contact_candidate)
                from derived.health_status group by 1 order by 1
                """
            )
            lines.append("health status (card colour: persons, of whom active F0, contact candidates):")
            lines += [
                f"  {c:<7} {n:>6}  {f0:>4} F0  {cc:>5} candidates" for c, n, f0, cc in cur.fetchall()
            ] or ["  (none)"]
            cur.execute("select release_id, row_count, views_agree from publish.release where is_current")
            current = cur.fetchone()
            lines.append(
                f"current release for PC-Covid, VNeID and Sổ SKĐT: #{current[0]}, {current[1]} persons, views agree: {current[2]}"
                if current
                else "current release for PC-Covid, VNeID and Sổ SKĐT: none"
            )
    finally:
        conn.close()
    docs = (
        settings.home()
        / "great_expectations"
        / "gx"
        / "uncommitted"
        / "data_docs"
        / "local_site"
        / "index.html"
    )
    lines += [
        f"reports for senders: {settings.outbox_dir()}/<facility_code>/<file>.result.json and .errors.csv",
        f"archive: {settings.archive_dir()}   rejected: {settings.rejected_dir()}",
        f"daily report: {settings.report_dir()}/latest.html (marts for analysts: schema mart, role bi_reader)",
        f"data docs: {docs}" + ("" if docs.exists() else " (built by the ingest DAG's batch gate)"),
        f"Airflow UI: `make airflow`, then {airflow_env.base_url()} (port: COVIDSYNC_AIRFLOW_PORT); log in as "
        "admin with the password `make airflow` prints (kept in "
        f"{airflow_env.passwords_file({'AIRFLOW_HOME': str(settings.airflow_home())})}); the demo's runs are "
        f"under logical date {SAMPLE_LAST_DAY()}",
        f"warehouse: psql {url}",
    ]
    return "\n".join(lines)
