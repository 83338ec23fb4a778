"""``covidsync publish ...`` (operators) and ``covidsync consumer pccovid|vneid`` (the apps' reference client).

* ``publish run``: publish the statuses as a new release if they changed (what the DAG's task does);
* ``publish status``: the last releases, which one is current, and the apps' latest acknowledgements;
* ``publish override ID --reason R``: let a held release past the mass-change check, the reason recorded;
* ``publish prune [--keep K]``: keep the rows and deltas of the last K published releases;
* ``publish reconcile [--max-lag-minutes M]``: compare the apps' acknowledgements with the releases;
* ``publish check``: the agreement check of the two views on the current release;
* ``consumer APP --api URL --store FILE``: sync a local copy through the sync API and acknowledge it
  (token from ``--token`` or ``COVIDSYNC_SYNC_TOKEN``).
"""

from __future__ import annotations

import getpass
import json
import os
from pathlib import Path


def register(sub) -> None:
    publish = sub.add_parser("publish", help="releases for PC-Covid and VNeID: run, status, override, prune")
    actions = publish.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("run", help="publish a new release if the statuses changed").set_defaults(func=run)
    actions.add_parser("status", help="the last releases and the apps' acknowledgements").set_defaults(
        func=status
    )
    override = actions.add_parser("override", help="let a held release past the mass-change check")
    override.add_argument("release_id", type=int)
    override.add_argument("--reason", required=True, help="kept with the release (at least 10 characters)")
    override.add_argument("--actor", default=None, help="who decides (default: your user name)")
    override.set_defaults(func=override_release)
    prune = actions.add_parser("prune", help="drop the rows and deltas of releases beyond the retention")
    prune.add_argument("--keep", type=int, default=None, help="default: COVIDSYNC_RELEASE_RETENTION (7)")
    prune.set_defaults(func=prune_releases)
    reconcile = actions.add_parser("reconcile", help="compare the apps' acknowledgements with the releases")
    reconcile.add_argument("--max-lag-minutes", type=float, default=None)
    reconcile.set_defaults(func=reconcile_apps)
    actions.add_parser("check", help="the agreement check of the two views").set_defaults(func=check)

    consumer = sub.add_parser(
        "consumer", help="the apps' reference client: sync a local copy and acknowledge"
    )
    consumer.add_argument("app", choices=["pccovid", "vneid"])
    consumer.add_argument(
        "--api",
        default=None,
        help="the sync API's base URL (default: COVIDSYNC_SYNC_API_URL, else the Airflow API server's: "
        "http://localhost:$COVIDSYNC_AIRFLOW_PORT/covidsync, port 8080 by default)",
    )
    consumer.add_argument("--token", default=None, help="the app's token (default: COVIDSYNC_SYNC_TOKEN)")
    consumer.add_argument("--store", type=Path, required=True, help="the local copy (a SQLite file)")
    consumer.add_argument("--page-size", type=int, default=1000)
    consumer.set_defaults(func=consume)


def _connect():
    from covidsync import db, warehouse

    return db.connect(warehouse.resolve_url(start=True))


def _print(value) -> int:
    print(json.dumps(value, indent=2, default=str, ensure_ascii=False))
    return 0


def run(args) -> int:
    from covidsync.publish import release

    conn = _connect()
    try:
        result = release.publish_release(conn)
    finally:
        conn.close()
    _print(result)
    return 0 if result["status"] in ("current", "unchanged") else 1


def status(args) -> int:
    from covidsync.settings import LOCAL_TZ

    conn = _connect()
    try:
        with conn.cursor() as cur:
            cur.execute("select set_config('TimeZone', %s, true)", (LOCAL_TZ,))  # times printed in local time
            cur.execute(
                """
                select r.release_id, r.created_at, r.as_of, r.row_count, r.is_current, r.views_agree, m.status,
                       m.rows_added, m.rows_changed, m.rows_removed, m.status_changed, m.held_reason, m.pruned_at
                from publish.release as r inner join publish.release_meta as m using (release_id)
                order by r.release_id desc limit 10
                """
            )
            names = [d.name for d in cur.description]
            releases = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
            cur.execute(
                """
                select distinct on (app) app, release_id, hash_matches, acked_at
                from publish.app_ack order by app, acked_at desc, ack_id desc
                """
            )
            acks = {row[0]: {"release_id": row[1], "hash_matches": row[2], "acked_at": row[3]} for row in cur}
    finally:
        conn.close()
    return _print({"time_zone": LOCAL_TZ, "releases": releases, "acknowledgements": acks})


def override_release(args) -> int:
    from covidsync.publish import release

    conn = _connect()
    try:
        result = release.record_override(
            conn, args.release_id, actor=args.actor or getpass.getuser(), reason=args.reason
        )
    finally:
        conn.close()
    _print(result)
    return 0 if result["status"] == "current" else 1


def prune_releases(args) -> int:
    from covidsync.publish import release

    conn = _connect()
    try:
        return _print(release.prune(conn, args.keep))
    finally:
        conn.close()


def reconcile_apps(args) -> int:
    from covidsync.publish import sync

    conn = _connect()
    try:
        summary = sync.reconcile(conn, max_lag_minutes=args.max_lag_minutes)
    finally:
        conn.close()
    _print(summary)
    return (
        0
        if all(summary[a]["state"] in ("in_step", "syncing", "no_release") for a in ("pccovid", "vneid"))
        else 1
    )


def check(args) -> int:
    from covidsync.publish import release

    conn = _connect()
    try:
        with conn.cursor() as cur:
            result = release.check_agreement(cur)
        conn.rollback()
    finally:
        conn.close()
    _print(result)
    return 0 if result["ok"] else 1


def consume(args) -> int:
    from covidsync.cli import UserError
    from covidsync.publish.client import Consumer

    token = args.token or os.environ.get("COVIDSYNC_SYNC_TOKEN")
    if not token:
        raise UserError("give the app's token: --token or COVIDSYNC_SYNC_TOKEN")
    from covidsync import airflow_env

    api = args.api or os.environ.get("COVIDSYNC_SYNC_API_URL") or airflow_env.base_url() + "/covidsync"
    consumer = Consumer(args.app, api, token, args.store, page_size=args.page_size)
    try:
        result = consumer.sync()
    finally:
        consumer.close()
    _print(result)
    return 0 if result.get("hash_matches", True) else 1
