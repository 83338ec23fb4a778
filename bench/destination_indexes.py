"""What each index of core.vaccination / core.test_result costs a load (issue 16, the destination).

    .venv/bin/python -m bench.destination_indexes CORE_CSV --dataset vaccinations --rounds 2 [--prefill N]

CORE_CSV: a file's final core rows as the bench exports them (``bench-export/<dataset>_core.csv`` of a
``python -m bench ... --keep`` run: the columns of ``bench.stages.CORE_FACILITY_COLUMNS``). In a scratch
database migrated to this checkout's head, each variant is a fresh table like the core table (defaults,
identity, checks; no index), the variant's indexes, the core table's triggers, then the timed ``COPY`` of
the rows — file order and sorted by ``(facility_code, record_key)``. ``--prefill N``: the table holds N
rows of other files first (the same rows under other keys and ids), as a warehouse that has been running.
Variants run in turn, round after round (ABAB), so that they see the same machine. Prints seconds.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import psycopg2

from bench.scratch import add_admin_url, migrated_database
from bench.stages import CORE_FACILITY_COLUMNS

_INDEXES = {
    "vaccinations": {
        "pkey": "alter table {t} add primary key (vaccination_id)",
        "key": "alter table {t} add unique (facility_code, record_key)",
        "person": "create index on {t} (citizen_id, vaccinated_on)",
        "source": "create index on {t} (source_file_id)",
        "source_brin": "create index on {t} using brin (source_file_id)",
        "loaded_at": "create index on {t} (loaded_at)",
        "loaded_at_brin": "create index on {t} using brin (loaded_at)",
        "phone": "create index on {t} (phone) where phone is not null",
        "phone_hash": "create index on {t} using hash (phone) where phone is not null",
        "citizen_hash": "create index on {t} using hash (citizen_id)",
        "vaccinated_on": "create index on {t} (vaccinated_on)",
        "vaccinated_on_brin": "create index on {t} using brin (vaccinated_on date_minmax_multi_ops)",
    },
    "test_results": {
        "pkey": "alter table {t} add primary key (test_result_id)",
        "key": "alter table {t} add unique (facility_code, record_key)",
        "person": "create index on {t} (citizen_id, sampled_at)",
        "sample": "create index on {t} (sample_id)",
        "source": "create index on {t} (source_file_id)",
        "source_brin": "create index on {t} using brin (source_file_id)",
        "loaded_at": "create index on {t} (loaded_at)",
        "loaded_at_brin": "create index on {t} using brin (loaded_at)",
        "phone": "create index on {t} (phone) where phone is not null",
        "phone_hash": "create index on {t} using hash (phone) where phone is not null",
        "citizen_hash": "create index on {t} using hash (citizen_id)",
        "sampled_at": "create index on {t} (sampled_at)",
        "sampled_at_brin": "create index on {t} using brin (sampled_at timestamptz_minmax_multi_ops)",
    },
}


def _variants(dataset: str, names: list[str]) -> dict[str, list[str]]:
    every = _INDEXES[dataset]
    standing = [k for k in every if not k.endswith(("_brin", "_hash"))]
    out: dict[str, list[str]] = {"bare": [], "as_it_stands": standing}
    for name in names:
        out[name] = name.split("+")
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("core_csv", type=Path)
    parser.add_argument("--dataset", default="vaccinations", choices=sorted(_INDEXES))
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--prefill", type=int, default=0)
    parser.add_argument(
        "--variants",
        default="",
        help="comma-separated extra variants, each a '+'-joined list of index names (default: each alone)",
    )
    parser.add_argument("--orders", default="file,key")
    add_admin_url(parser)
    args = parser.parse_args()
    source, columns = CORE_FACILITY_COLUMNS[args.dataset]
    extra = [v for v in args.variants.split(",") if v] or list(_INDEXES[args.dataset])
    variants = _variants(args.dataset, extra)
    with migrated_database(args.admin_url, "covidsync_bench_destidx") as url:
        conn = psycopg2.connect(url)
        with conn, conn.cursor() as cur:
            cur.execute("create schema bench_idx")
            cur.execute(
                f"create unlogged table bench_idx.rows_file (like {source} including defaults including identity)"
            )
            with args.core_csv.open("rb") as fh:
                cur.copy_expert(f"copy bench_idx.rows_file ({columns}) from stdin with (format csv)", fh)
            cur.execute("select distinct source_file_id, facility_code from bench_idx.rows_file")
            for file_id, facility in cur.fetchall():
                cur.execute(
                    "insert into ops.facility (facility_code, name, facility_type, province_code, district_code,"
                    " commune_code, registry_sha256) values (%s, 'bench', 'hospital', '17', '148', '04927',"
                    " repeat('0', 64)) on conflict do nothing",
                    (facility,),
                )
                cur.execute(
                    "insert into ops.landing_file (file_id, sha256, relative_path, original_name, size_bytes,"
                    " received_at, status, dataset) overriding system value values (%s, repeat('0', 64),"
                    " 'bench', 'bench', 1, now(), 'merged', %s)",
                    (file_id, args.dataset),
                )
            cur.execute("select setval(pg_get_serial_sequence('ops.landing_file', 'file_id'), 1000000)")
            if args.dataset == "vaccinations":
                cur.execute(
                    "insert into core.vaccine_product (product_code, name, primary_doses, min_interval_days)"
                    " select distinct vaccine_code, vaccine_code, 2, 21 from bench_idx.rows_file"
                    " on conflict do nothing"
                )
            files = {}
            for order in args.orders.split(","):
                path = Path(f"/tmp/destidx-{args.dataset}-{order}.csv")
                by = {"file": "source_row", "key": "facility_code, record_key", "random": "md5(record_key)"}[
                    order
                ]
                with path.open("w") as fh:
                    cur.copy_expert(
                        f"copy (select {columns} from bench_idx.rows_file order by {by}) to stdout"
                        " with (format csv)",
                        fh,
                    )
                files[order] = path
            cur.execute(
                "select pg_get_triggerdef(oid) from pg_trigger where tgrelid = %s::regclass and not tgisinternal",
                (source,),
            )
            triggers = [r[0] for r in cur.fetchall()]
        conn.autocommit = True
        table = "bench_idx.target"
        for r in range(args.rounds):
            names = list(variants) if r % 2 == 0 else list(reversed(variants))
            for name in names:
                for order, path in files.items():
                    with conn.cursor() as cur:
                        cur.execute(f"drop table if exists {table}")
                        cur.execute(
                            f"create table {table} (like {source} including defaults including identity"
                            " including constraints)"
                        )
                        for trig in triggers:
                            cur.execute(trig.replace(f" ON {source} ", f" ON {table} "))
                        if args.prefill:
                            renamed = columns.replace("record_key", "record_key || '-' || g")
                            cur.execute(
                                f"insert into {table} ({columns}) select {renamed} from bench_idx.rows_file"
                                " cross join generate_series(1, %s) as g order by g, source_row limit %s",
                                (args.prefill // 100_000 + 1, args.prefill),
                            )
                        for ddl in variants[name]:
                            cur.execute(_INDEXES[args.dataset][ddl].format(t=table))
                        cur.execute("checkpoint") if args.prefill else None
                        t0 = time.perf_counter()
                        cur.execute("begin")
                        with path.open("rb") as fh:
                            cur.copy_expert(f"copy {table} ({columns}) from stdin with (format csv)", fh)
                        cur.execute("commit")
                        seconds = time.perf_counter() - t0
                    print(f"round {r} {name:40s} {order:4s} {seconds:7.2f} s", flush=True)
        conn.close()


if __name__ == "__main__":
    main()
