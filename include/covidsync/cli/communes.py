"""``covidsync communes grant|revoke|list|worklists``: the commune health stations' access to their work lists.

* ``communes grant LOGIN COMMUNE…``: the PostgreSQL login (create it first) joins ``commune_health`` and reads
  the work lists of these Hòa Bình communes (5-digit codes) in ``publish.commune_arrival_followup``;
* ``communes revoke LOGIN [COMMUNE…]``: takes them (all when none named; a login left with none leaves
  ``commune_health``);
* ``communes list``: who reads which commune;
* ``communes worklists [--date D]``: write each commune's CSV now (the evening monitoring DAG does it).
"""

from __future__ import annotations

import getpass

from covidsync.cli import local_day


def register(sub) -> None:
    communes = sub.add_parser("communes", help="commune health stations: access to their work lists")
    actions = communes.add_subparsers(dest="action", metavar="ACTION", required=True)
    granting = actions.add_parser("grant", help="let a login read the work lists of communes")
    granting.add_argument("login")
    granting.add_argument("communes", nargs="+", metavar="COMMUNE")
    granting.add_argument("--actor", default=None, help="who grants (default: your user name)")
    granting.set_defaults(func=grant)
    revoking = actions.add_parser("revoke", help="take communes (all when none named) from a login")
    revoking.add_argument("login")
    revoking.add_argument("communes", nargs="*", metavar="COMMUNE")
    revoking.set_defaults(func=revoke)
    listing = actions.add_parser("list", help="who reads which commune")
    listing.set_defaults(func=list_access)
    lists = actions.add_parser("worklists", help="write each commune's work list CSV to the outbox")
    lists.add_argument("--date", type=local_day, help="the local day in the file names (default: today)")
    lists.set_defaults(func=worklists)


def _session():
    """``with _session() as conn:`` the warehouse (the embedded server started if it is the one)."""
    from covidsync import db, warehouse

    return db.session(warehouse.resolve_url(start=True))


def grant(args) -> int:
    from covidsync import communes

    with _session() as conn:
        added = communes.grant(conn, args.login, args.communes, args.actor or getpass.getuser())
    print(
        f"{args.login} reads the work lists of {len(added)} more commune(s)"
        + (f": {', '.join(added)}" if added else " (it already read them)")
    )
    return 0


def revoke(args) -> int:
    from covidsync import communes

    with _session() as conn:
        removed = communes.revoke(conn, args.login, args.communes or None)
    print(
        f"{args.login} no longer reads {len(removed)} commune(s)"
        + (f": {', '.join(removed)}" if removed else "")
    )
    return 0


def list_access(args) -> int:
    from covidsync import communes

    with _session() as conn:
        rows = communes.access(conn)
    if not rows:
        print("no login reads a commune work list yet (covidsync communes grant LOGIN COMMUNE…)")
    for login, commune, by, at in rows:
        print(f"{login}  {commune}  granted by {by} on {at:%Y-%m-%d}")
    return 0


def worklists(args) -> int:
    from covidsync import communes, settings
    from covidsync.status.build import current_day

    with _session() as conn:
        communes.refresh_worklists(conn)
        result = communes.write_worklists(conn, args.date or current_day(), settings.outbox_dir())
    print(f"{result['communes']} commune work list(s) written, {result['rows']} open arrival(s)")
    return 0
