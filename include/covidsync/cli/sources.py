"""``covidsync sources ...``: the facility and lab APIs the pipeline pulls from (contract §8).

* ``sources add --facility F --dataset D --url U --conn-id C [--page-size N]``: register a source, or change
  the URL, connection or page size of the (facility, dataset) one (its watermark is kept);
* ``sources list``: every source, its watermark (the newest ``updated_at`` merged) and its last batch;
* ``sources pull ID``: pull one source now, as the DAG ``pull_facility_apis`` does (outside Airflow the
  token's connection comes from ``AIRFLOW_CONN_<CONN_ID>`` or an external secrets backend).
"""

from __future__ import annotations

import json


def register(sub) -> None:
    sources = sub.add_parser("sources", help="add, list or pull facility/lab API sources")
    actions = sources.add_subparsers(dest="action", metavar="ACTION", required=True)

    add = actions.add_parser("add", help="register an API source (or change one)")
    add.add_argument("--facility", required=True, help="5-digit facility code (registered)")
    add.add_argument("--dataset", required=True, choices=["vaccinations", "test_results"])
    add.add_argument("--url", required=True, help="base URL: <url>/<dataset> is the endpoint")
    add.add_argument("--conn-id", required=True, help="Airflow connection whose password is the token")
    add.add_argument("--page-size", type=int, default=None, help="items per page, 1-1000 (default 500)")
    add.set_defaults(func=add_source)

    listing = actions.add_parser("list", help="the sources, their watermarks and last batches")
    listing.set_defaults(func=list_sources)

    pull = actions.add_parser("pull", help="pull one source now")
    pull.add_argument("source_id", type=int)
    pull.set_defaults(func=pull_source)


def _connect():
    from covidsync import db, warehouse

    return db.connect(warehouse.resolve_url(start=True))


def add_source(args) -> int:
    from covidsync.ingest import api_pull

    conn = _connect()
    try:
        source = api_pull.add_source(
            conn, args.facility, args.dataset, args.url, args.conn_id, page_size=args.page_size
        )
    finally:
        conn.close()
    print(
        f"source {source.source_id}: {source.facility_code} {source.dataset} from {source.base_url}, "
        f"token from Airflow connection {source.conn_id!r}, {source.page_size} per page"
    )
    return 0


def list_sources(args) -> int:
    conn = _connect()
    try:
        with conn.cursor() as cur:
            cur.execute(
                """
                select s.source_id, s.facility_code, s.dataset, s.page_size, s.conn_id,
                       coalesce(to_char(s.watermark at time zone 'Asia/Ho_Chi_Minh', 'YYYY-MM-DD"T"HH24:MI:SS'), '-'),
                       coalesce(last.file_id::text || ' ' || last.status, '-'), s.enabled, s.base_url
                from ops.api_source as s
                left join lateral (
                    select f.file_id, f.status from ops.api_batch as b
                    join ops.landing_file as f on f.file_id = b.file_id
                    where b.source_id = s.source_id order by b.file_id desc limit 1
                ) as last on true
                order by s.facility_code, s.dataset
                """
            )
            rows = cur.fetchall()
    finally:
        conn.close()
    print(
        f"{'id':>4} {'facility':<8} {'dataset':<13} {'page':>5} {'connection':<20} {'watermark (+07)':<19} "
        f"{'last batch':<16} url"
    )
    for sid, facility, dataset, size, conn_id, mark, last, enabled, url in rows:
        flag = "" if enabled else " (disabled)"
        print(
            f"{sid:>4} {facility:<8} {dataset:<13} {size:>5} {conn_id:<20} {mark:<19} {last:<16} {url}{flag}"
        )
    return 0


def pull_source(args) -> int:
    from covidsync.ingest import api_pull

    conn = _connect()
    try:
        print(json.dumps(api_pull.pull_source(conn, args.source_id), default=str))
    finally:
        conn.close()
    return 0
