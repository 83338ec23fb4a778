"""``covidsync review ...``, ``covidsync explain`` and ``covidsync status build``: identity and health status.

* ``review list [--all] [--show-personal-data]``: the open identity conflicts (and, with --all, the decisions
  taken), identifiers masked unless asked for (the showing is logged: :mod:`covidsync.cli.personal`);
* ``review decide KEY --candidate N --merge|--distinct --reason R``: a decision, applied by every build;
* ``explain WHO [--date D]``: each status field of a person (person key, CCCD or CMND) and its sources, times
  in local time (Asia/Ho_Chi_Minh), identifiers masked but the one asked for;
* ``status build [--date D] [--full] [--rule-set NAME]``: build now (``--full`` forces a full rebuild).
"""

from __future__ import annotations

import datetime as dt
import getpass
import json

from covidsync.cli import local_day, personal


def register(sub) -> None:
    review = sub.add_parser("review", help="list and decide identity conflicts")
    actions = review.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="the open identity conflicts")
    listing.add_argument("--all", action="store_true", help="also the decisions already taken")
    listing.add_argument("--json", action="store_true")
    personal.add_flag(listing)
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
    explain.add_argument("--date", type=local_day, help="the local day (default: the last build's)")
    explain.add_argument("--rule-set", default=None)
    explain.add_argument("--json", action="store_true")
    explain.set_defaults(func=explain_person)

    status = sub.add_parser("status", help="build the health status now")
    actions = status.add_subparsers(dest="action", metavar="ACTION", required=True)
    building = actions.add_parser("build", help="identity, doses, F0, tracing and status as of a day")
    building.add_argument("--date", type=local_day, help="the local day (default: today)")
    building.add_argument("--full", action="store_true", help="rebuild everything (else only what changed)")
    building.add_argument("--rule-set", default=None, help="default: COVIDSYNC_RULE_SET, else hb-2021-11")
    building.set_defaults(func=status_build)


def _connect():
    """The warehouse, its session in local time: every time printed here is Asia/Ho_Chi_Minh."""
    from covidsync import db, settings, warehouse

    conn = db.connect(warehouse.resolve_url(start=True))
    with conn.cursor() as cur:
        cur.execute("select set_config('TimeZone', %s, false)", (settings.LOCAL_TZ,))
    conn.commit()
    return conn


def _local(value):
    """A time in local time, said so (``2021-11-20 08:15 +07``); dates and other values as they are."""
    if isinstance(value, dt.datetime):
        from zoneinfo import ZoneInfo

        from covidsync import settings

        if value.tzinfo is not None:
            value = value.astimezone(ZoneInfo(settings.LOCAL_TZ))
        return value.strftime("%Y-%m-%d %H:%M:%S %z")[:-2]
    return value


def review_list(args) -> int:
    from covidsync.status import review

    conn = _connect()
    try:
        rows = review.items(conn, include_decided=args.all)
    finally:
        conn.close()
    shown = args.show_personal_data
    if not shown:
        for row in rows:
            row["subject_value"] = personal.mask_value(row["subject_value"])
            row["candidates"] = [personal.mask_identifier(c) for c in row["candidates"] or []]
    elif rows:
        personal.record_shown("review list" + (" --all" if args.all else ""), len(rows))
    for row in rows:
        row["found_at"] = _local(row.get("found_at"))
    if args.json:
        print(json.dumps(rows, default=str, ensure_ascii=False, indent=1))
        return 0
    if not rows:
        print("no identity conflicts to review")
        return 0
    print(
        f"{sum(r['status'] == 'open' for r in rows)} open identity review(s); times are local (Asia/Ho_Chi_Minh)"
        + ("" if shown else f"; identifiers masked ({personal.FLAG} shows them, and is logged)")
    )
    for row in rows:
        print(
            f"{row['review_key']}  {row['kind']}  {row['status']}  {row['subject_kind']} {row['subject_value']}"
            f"  found {row['found_at']}"
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
    report["fields"] = {k: _local(v) for k, v in report["fields"].items()}
    report["time_zone"] = "Asia/Ho_Chi_Minh"
    print(json.dumps(report, default=str, ensure_ascii=False, indent=1) if args.json else render(report))
    return 0


# what the plain-text `explain` calls each field (the JSON keeps the contract's names)
LABELS = {
    "as_of": "as of",
    "card_colour": "card colour",
    "doses": "doses given",
    "last_dose_on": "last dose on",
    "last_dose_product": "last dose product",
    "primary_doses": "primary series",
    "primary_complete": "primary series complete",
    "last_primary_dose_on": "primary series done on",
    "booster_doses": "booster doses",
    "fully_vaccinated": "fully vaccinated",
    "latest_test_type": "latest test type",
    "latest_test_result": "latest test result",
    "latest_test_sampled_at": "latest test sampled at",
    "f0": "active F0",
    "f0_since": "F0 since",
    "recovered_on": "recovered on",
    "contact_candidate": "contact candidate",
}


def render(report: dict) -> str:
    """The plain-text explanation: local times, and the primary series as 'n of m doses', not a bare m."""
    fields = report["fields"]
    lines = [
        f"person {report['person_key']}  ({', '.join(report['identifiers'])})  rule set {report['rule_set']}",
        "times are local (Asia/Ho_Chi_Minh, +07)",
        f"card: {report['card_rule']}",
    ]
    for field, value in fields.items():
        if field == "primary_doses" and value is not None:
            given = min(int(fields.get("doses") or 0) - int(fields.get("booster_doses") or 0), int(value))
            value = f"{given} of {value} doses (the product's primary series is {value} doses)"
        lines.append(f"  {LABELS.get(field, field):24} {'' if value is None else value}")
        for source in report["sources"].get(field, []):
            lines.append(f"  {'':24}   ← {source}")
    return "\n".join(lines)


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
