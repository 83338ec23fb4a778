"""``covidsync warehouse start|stop|status|url``: the embedded PostgreSQL (when no URL is configured)."""

from __future__ import annotations


def register(sub) -> None:
    parser = sub.add_parser(
        "warehouse",
        help="start, stop or locate the warehouse",
        description="The warehouse is COVIDSYNC_WAREHOUSE_URL when set; otherwise an embedded PostgreSQL "
        "under .covidsync/ on 127.0.0.1:$COVIDSYNC_EMBEDDED_PG_PORT (default 54329).",
    )
    parser.add_argument("action", choices=["start", "stop", "status", "url"])
    parser.set_defaults(func=run)


def run(args) -> int:
    from covidsync import db, warehouse

    configured = warehouse.configured_url()
    embedded = warehouse.EmbeddedPostgres.default()
    if args.action == "url":
        print(configured or embedded.url())
    elif configured:
        print(f"warehouse: {db.redact(configured)} (COVIDSYNC_WAREHOUSE_URL; nothing to {args.action})")
    elif args.action == "start":
        print(f"warehouse: embedded PostgreSQL at {embedded.start()} (data in {embedded.pgdata})")
    elif args.action == "stop":
        print("warehouse: stopped" if embedded.stop() else "warehouse: was not running")
    else:
        state = "running" if embedded.is_running() else "stopped"
        print(f"warehouse: embedded PostgreSQL {state} at {embedded.url()} (data in {embedded.pgdata})")
        return 0 if state == "running" else 1
    return 0
