"""``covidsync review ...``, ``covidsync explain`` and ``covidsync status build``: identity and health status.

* ``review list [--all]``: the open identity conflicts (and, with --all, the decisions taken);
* ``review decide KEY --candidate N --merge|--distinct --reason R``: a decision, applied by every build;
* ``explain WHO [--date D]``: each status field of a person (person key, CCCD or CMND) and its sources;
* ``status build [--date D] [--full] [--rule-set NAME]``: build now (``--full`` forces a full rebuild).
"""

from __future__ import annotations

import datetime as dt
import getpass
import json


def register(sub) -> None:
    review = sub.add_parser("review", help="list and decide identity conflicts")
    actions = review.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="the open identity conflicts")
    listing.add_argument("--all", action="store_true", help="also the decisions already taken")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=review_list)
    decide = actions.add_parser("decide", help="record a decision on a review item")
    decide.add_argument("review_key")
    decide.add_argument(
        "--candidate", type=int, required=True, help="the candidate's number in `review list`"
    )
    choice = decide.add_mutually_exclusive_group(required=True)
    choice.add_argument(
        "--merge", dest="decision", action="store_const", const="merge", help="the same person"
    )
    choice.add_argument(
        "--distinct", dest="decision", action="store_const", const="distinct", help="not the same"
    )
    decide.add_argument("--reason", required=True)
    decide.add_argument("--actor", default=None, help="who decides (default: your user name)")
    decide.set_defaults(func=review_decide)

    explain = sub.add_parser("explain", help="a person's health status and the records behind each field")
    explain.add_argument("who", help="person key (64 hex), CCCD (12 digits) or CMND (9 digits)")
    explain.add_argument(
        "--date", type=dt.date.fromisoformat, help="the local day (default: the last build's)"
    )
    explain.add_argument("--rule-set", default=None)
    explain.add_argument("--json", action="store_true")
    explain.set_defaults(func=explain_person)

    status = sub.add_parser("status", help="build the health status now")
    actions = status.add_subparsers(dest="action", metavar="ACTION", required=True)
    building = actions.add_parser("build", help="identity, doses, F0, tracing and status as of a day")
    building.add_argument("--date", type=dt.date.fromisoformat, help="the local day (default: today)")
    building.add_argument("--full", action="store_true", help="rebuild everything (else only what changed)")
    building.add_argument("--rule-set", default=None, help="default: COVIDSYNC_RULE_SET, else hb-2021-11")
    building.set_defaults(func=status_build)


def _connect():
    from covidsync import db, warehouse

    return db.connect(warehouse.resolve_url(start=True))


def review_list(args) -> int:
    from covidsync.status import review

    conn = _connect()
    try:
        rows = review.items(conn, include_decided=args.all)
    finally:
        conn.close()
    if args.json:
        print(json.dumps(rows, default=str, ensure_ascii=False, indent=1))
        return 0
    if not rows:
        print("no identity conflicts to review")
    for row in rows:
        print(
            f"{row['review_key']}  {row['kind']}  {row['status']}  {row['subject_kind']} {row['subject_value']}"
        )
        for n, candidate in enumerate(row["candidates"], start=1):
            print(f"    {n}. {candidate}")
    return 0


def review_decide(args) -> int:
    from covidsync.status import review

    conn = _connect()
    try:
        result = review.decide(
            conn, args.review_key, args.candidate, args.decision, args.reason, args.actor or getpass.getuser()
        )
    finally:
        conn.close()
    print(
        f"decision {result['decision_id']} recorded ({result['decision']}); "
        "it takes effect at the next build: `covidsync status build` or the next build_health_status run"
    )
    return 0


def explain_person(args) -> int:
    from covidsync.status import explain

    conn = _connect()
    try:
        report = explain.explain(conn, args.who, args.date, args.rule_set)
    finally:
        conn.close()
    print(
        json.dumps(report, default=str, ensure_ascii=False, indent=1) if args.json else explain.render(report)
    )
    return 0


def status_build(args) -> int:
    from covidsync.status import build

    conn = _connect()
    try:
        day = args.date or build.current_day()
        result = build.build(conn, build.as_of_for(day), args.rule_set, full=args.full)
    finally:
        conn.close()
    print(json.dumps(result.as_dict()))
    return 0
