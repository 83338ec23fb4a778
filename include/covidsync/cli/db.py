"""``covidsync db upgrade|status``: apply or list the SQL migrations in sql/migrations."""

from __future__ import annotations


def register(sub) -> None:
    parser = sub.add_parser("db", help="apply or list the warehouse migrations")
    parser.add_argument("action", choices=["upgrade", "status"])
    parser.set_defaults(func=run)


def run(args) -> int:
    from covidsync import db, warehouse

    url = warehouse.resolve_url(start=True)
    if args.action == "upgrade":
        done = db.upgrade(url)
        if done:
            print(f"migrations applied: {', '.join(done)}")
        else:
            print("migrations: up to date")
    else:
        for migration, is_applied in db.status(url):
            print(f"{'applied' if is_applied else 'pending':8} {migration.path.name}")
    return 0
