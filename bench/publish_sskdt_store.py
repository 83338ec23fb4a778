"""Where the Sổ SKĐT columns' bytes go in a first release's store, and what storing them elsewhere would cost
(issue 20), on one database.

    .venv/bin/python -m bench.publish_sskdt_store --persons 300000 [--reps 2]

Creates a database on the server at ``--admin-url``, migrates it, seeds N persons as
``bench.publish_by_change`` does (``records=True``, the status build's cards), publishes a three-view first
release and keeps its versions (``src``). Then, alternating (A B C D, D C B A, ...), the store's one write as a
first release makes it (every version sorted by CCCD into an empty copy of ``publish.release_version`` with its
indexes), in four widths:

- ``as now``: every version carries the Sổ SKĐT certificate, the test history and a 96-byte line hash;
- ``two views``: a two-view release's versions (``'[]'`` twice, a 64-byte line hash): the lower bound;
- ``reference``: the extras left where the status build wrote them, the version keeping its 96-byte line hash and
  an 8-byte reference (``sskdt_ref``);
- ``side table``: the extras written by the release into a narrow table (CCCD, release) beside the versions.

For each: seconds, the backend's CPU seconds (``/proc``, the server on this machine), the statement's WAL bytes
(``EXPLAIN (ANALYZE, WAL)``) and the bytes stored. Then the reads the reference would need: the Sổ SKĐT columns
of every person from the wide versions, and from the narrow ones joined to the extras at the readers' default
``work_mem`` and at 64MB, each against ``COPY … TO`` of a table of the same rows (the bench's full-read target:
at most 2×), and a point lookup's buffers. Prints one line per measurement; drops the database.
"""

from __future__ import annotations

import argparse
import os
import time

import psycopg2
import publish_seed

from bench import publish_by_change, scratch

_COLUMNS = (
    "citizen_id, valid_from, valid_to, change, person_id, phone, doses, last_dose_on, last_dose_product,"
    " fully_vaccinated, card_colour, latest_test_type, latest_test_result, latest_test_sampled_at, f0,"
    " contact_candidate, full_name, date_of_birth, vaccination_certificate, recovered_on, arrival_measure,"
    " arrival_measure_ends_on, row_sha256, expires_at"
)
_ORDER = ' order by citizen_id collate "C"'
_WIDTHS = {
    "as now": [
        f"insert into t ({_COLUMNS}, sskdt_certificate, test_history, line_sha256)"
        f" select {_COLUMNS}, sskdt_certificate, test_history, line_sha256 from src" + _ORDER
    ],
    "two views": [
        f"insert into t ({_COLUMNS}, sskdt_certificate, test_history, line_sha256)"
        f" select {_COLUMNS}, '[]', '[]', substring(line_sha256 from 1 for 64) from src" + _ORDER
    ],
    "reference": [
        f"insert into t ({_COLUMNS}, line_sha256, sskdt_ref) select {_COLUMNS}, line_sha256, person_id from src"
        + _ORDER
    ],
    "side table": [
        f"insert into t ({_COLUMNS}, line_sha256) select {_COLUMNS}, line_sha256 from src" + _ORDER,
        "insert into s (citizen_id, valid_from, sskdt_certificate, test_history)"
        " select citizen_id, valid_from, sskdt_certificate, test_history from src"
        " where sskdt_certificate <> '[]' or test_history <> '[]'" + _ORDER,
    ],
}
_SSKDT = (
    "{r}.citizen_id, {r}.doses, {r}.last_dose_on, {r}.last_dose_product, {r}.fully_vaccinated, {r}.card_colour,"
    " {r}.latest_test_type, {r}.latest_test_result, {r}.latest_test_sampled_at, {r}.f0, {r}.full_name,"
    " {r}.date_of_birth, {cert}, {tests}, {r}.recovered_on, {r}.arrival_measure, {r}.arrival_measure_ends_on"
)
_READ_WIDE = (
    "select " + _SSKDT.format(r="v", cert="v.sskdt_certificate", tests="v.test_history") + " from wide as v"
    " where v.valid_to is null"
)
_READ_REFERENCE = (
    "select "
    + _SSKDT.format(r="v", cert="coalesce(e.sskdt_certificate, '[]')", tests="coalesce(e.test_history, '[]')")
    + " from narrow as v left join extra as e on v.sskdt_ref = e.ref where v.valid_to is null"
)
_SETUP = (
    "create table src as select * from publish.release_version" + _ORDER,
    "create table wide as select * from src",
    "create unique index on wide (citizen_id)",
    f"create table narrow as select {_COLUMNS}, line_sha256, person_id as sskdt_ref from src" + _ORDER,
    "create unique index on narrow (citizen_id)",
    "create table extra as select person_id as ref, sskdt_certificate, test_history from src"
    " where sskdt_certificate <> '[]' or test_history <> '[]' order by person_id",
    "alter table extra add primary key (ref)",
    "create table read_sskdt as " + _READ_WIDE,
)


class _Null:
    def write(self, data) -> int:
        return len(data)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=2, help="rounds of the four widths, alternating order")
    scratch.add_admin_url(parser)
    args = parser.parse_args()
    with scratch.migrated_database(args.admin_url, "covidsync_bench_sskdt_store") as url:
        conn = psycopg2.connect(url)
        publish_seed.seed(conn, args.persons, rule_set=publish_by_change.RULE_SET, records=True)
        with conn, conn.cursor() as cur:  # what a status build leaves: its as_of
            cur.execute(
                "insert into derived.build_state (rule_set, rule_set_version, as_of, mode, persons, touched)"
                " values (%s, 1, %s, 'full', %s, %s)",
                (publish_by_change.RULE_SET, publish_seed.DEFAULT_AS_OF, args.persons, args.persons),
            )
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("vacuum (analyze)")
        conn.autocommit = False
        publish_by_change._cards(conn, full=True)
        publish_by_change._publish(conn)
        conn.autocommit = True
        cur = conn.cursor()
        for statement in _SETUP:
            cur.execute(statement)
        cur.execute("vacuum (analyze)")
        cur.execute("set jit = off")
        cur.execute("select pg_backend_pid()")
        stat = f"/proc/{cur.fetchone()[0]}/stat"
        tick = os.sysconf("SC_CLK_TCK")

        def cpu() -> float:
            fields = open(stat, encoding="ascii").read().rsplit(")", 1)[1].split()  # noqa: SIM115
            return (int(fields[11]) + int(fields[12])) / tick

        cur.execute("set work_mem = '1GB'")  # as a first release sorts (release.first_sort_memory)
        print(f"load {os.getloadavg()[0]:.1f}", flush=True)
        names = list(_WIDTHS)
        for rep in range(args.reps):
            for name in names if rep % 2 == 0 else names[::-1]:
                cur.execute("drop table if exists t, s")
                cur.execute("create table t (like publish.release_version including all)")
                cur.execute("alter table t add column sskdt_ref bigint")
                cur.execute(
                    "create table s (citizen_id text, valid_from bigint, sskdt_certificate jsonb,"
                    " test_history jsonb, primary key (citizen_id, valid_from))"
                )
                cur.execute("checkpoint")
                wal, cpu_before, started = 0, cpu(), time.perf_counter()
                for statement in _WIDTHS[name]:
                    cur.execute("explain (analyze, wal, timing off, format json) " + statement)
                    wal += cur.fetchone()[0][0]["Plan"].get("WAL Bytes", 0)
                seconds, cpu_s = time.perf_counter() - started, cpu() - cpu_before
                cur.execute("select pg_total_relation_size('t') + pg_total_relation_size('s')")
                stored = cur.fetchone()[0]
                print(
                    f"store {name:<11} {seconds:7.3f} s  cpu {cpu_s:5.2f} s  WAL {wal / 1e6:7.1f} MB"
                    f"  stored {stored / 1e6:7.1f} MB  load {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
        cur.execute("drop table t, s")
        cur.execute("reset work_mem")

        def copy_out(query: str) -> float:
            started = time.perf_counter()
            cur.copy_expert(f"copy {query} to stdout", _Null())
            return time.perf_counter() - started

        copy_out(f"({_READ_WIDE})")  # warm
        copy_out("read_sskdt")
        for _ in range(args.reps):
            cur.execute("reset work_mem")
            wide = copy_out(f"({_READ_WIDE})")
            reference = copy_out(f"({_READ_REFERENCE})")
            cur.execute("set work_mem = '64MB'")
            reference_64 = copy_out(f"({_READ_REFERENCE})")
            table = copy_out("read_sskdt")
            print(
                f"full read ÷ COPY TO: as now {wide / table:.2f}, reference {reference / table:.2f},"
                f" reference at 64MB {reference_64 / table:.2f} ({wide:.3f} / {reference:.3f} / {reference_64:.3f}"
                f" s, COPY TO {table:.3f} s)  load {os.getloadavg()[0]:.1f}",
                flush=True,
            )
        cur.execute("reset work_mem")
        cur.execute("select citizen_id from wide where sskdt_certificate <> '[]' order by citizen_id limit 1")
        citizen_id = cur.fetchone()[0]
        for name, query in (("as now", _READ_WIDE), ("reference", _READ_REFERENCE)):
            cur.execute(
                "explain (analyze, buffers, format json) " + query + " and v.citizen_id = %s", (citizen_id,)
            )
            plan = cur.fetchone()[0][0]["Plan"]
            print(f"point lookup {name}: {plan['Shared Hit Blocks'] + plan['Shared Read Blocks']} buffers")
        conn.close()


if __name__ == "__main__":
    main()
