"""``covidsync explain``: a person's status fields for a date, and the source records behind each one.

The status of the last build is read when the date is the build's; for another date the same build runs
incrementally inside a transaction that is rolled back, so the warehouse is left as it was. Sources are
named by file and row (``ops.landing_file.relative_path`` and the record's ``source_row``), or by API batch
for records that came from a facility's API. Identifiers are shown masked except the one asked for.
"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

from covidsync import settings
from covidsync.domain.text import mask
from covidsync.errors import CovidsyncError
from covidsync.status import build, rules


class NotFound(CovidsyncError):
    pass


FIELDS = (
    "as_of",
    "card_colour",
    "doses",
    "last_dose_on",
    "last_dose_product",
    "primary_doses",
    "primary_complete",
    "last_primary_dose_on",
    "booster_doses",
    "fully_vaccinated",
    "latest_test_type",
    "latest_test_result",
    "latest_test_sampled_at",
    "f0",
    "f0_since",
    "recovered_on",
    "contact_candidate",
)

_SOURCE = """
select r.source_file_id, f.source, f.relative_path, r.source_row
from {table} r join ops.landing_file f on f.file_id = r.source_file_id
where r.{id_column} = %s
"""


def _person_id(cur, who: str) -> int:
    who = who.strip()
    if re.fullmatch(r"[0-9a-f]{64}", who):
        cur.execute("select person_id from derived.person where person_key = %s", (who,))
    elif re.fullmatch(r"\d{12}", who):
        cur.execute(
            "select person_id from derived.person_identifier where kind = 'cccd' and value = %s", (who,)
        )
    elif re.fullmatch(r"\d{9}", who):
        cur.execute(
            "select person_id from derived.person_identifier where kind = 'cmnd' and value = %s", (who,)
        )
    else:
        raise NotFound("give a person key (64 hex digits), a 12-digit CCCD or a 9-digit CMND")
    row = cur.fetchone()
    if row is None:
        raise NotFound(
            f"no person {mask(who)} in derived.person: has build_health_status run since it arrived?"
        )
    return row[0]


def _where(cur, table: str, id_column: str, record_id) -> str:
    if record_id is None:
        return ""
    cur.execute(_SOURCE.format(table=table, id_column=id_column), (record_id,))
    row = cur.fetchone()
    if row is None:
        return f"{table} {record_id} (no longer in core: replaced since)"
    file_id, source, path, source_row = row
    what = f"API batch {file_id}" if source == "api" else f"file {file_id} {path}"
    return f"{what}, row {source_row}"


def explain(conn, who: str, day: dt.date | None = None, rule_set: str | None = None) -> dict:
    """The status of ``who`` (person key, CCCD or CMND) as of the end of ``day`` (default: the last build's)."""
    rs = rules.get(rule_set)
    try:
        with conn.cursor() as cur:
            cur.execute("select as_of from derived.build_state where rule_set = %s", (rs.name,))
            state = cur.fetchone()
            if state is None:
                raise NotFound(f"no health-status build under {rs.name} yet: run build_health_status first")
            if day is not None and build.as_of_for(day) != state[0]:
                build.build_uncommitted(conn, build.as_of_for(day), rs.name)
            person_id = _person_id(cur, who)
            return _report(cur, person_id, rs.name)
    finally:
        conn.rollback()


def _report(cur, person_id: int, rule_set: str) -> dict:
    # the row holds as of the build's as_of (a row keeps the as_of it was computed as of until it falls due)
    cur.execute(
        "select h.*, derived.status_as_of(h.rule_set) as as_of from derived.health_status h"
        " where h.rule_set = %s and h.person_id = %s",
        (rule_set, person_id),
    )
    names = [d.name for d in cur.description]
    status = dict(zip(names, cur.fetchone(), strict=True))
    cur.execute("select person_key from derived.person where person_id = %s", (person_id,))
    person_key = cur.fetchone()[0]
    cur.execute(
        "select kind, value from derived.person_identifier where person_id = %s order by kind, value",
        (person_id,),
    )
    identifiers = [f"{k} {mask(v)}" for k, v in cur.fetchall()]
    sources: dict[str, list[str]] = {}
    cur.execute(
        """
        select d.dose_number, d.vaccinated_on, p.name, d.facility_code, d.vaccination_id, d.reported_by
        from derived.vaccination_dose d join core.vaccine_product p on p.product_code = d.product_code
        where d.person_id = %s order by d.dose_number
        """,
        (person_id,),
    )
    doses = cur.fetchall()
    sources["doses"] = [
        f"dose {n} on {on} ({product}, facility {facility}; reported by {reported}): "
        + _where(cur, "core.vaccination", "vaccination_id", vid)
        for n, on, product, facility, vid, reported in doses
    ]
    for field, column in (
        ("last_dose_on", "last_dose_vaccination_id"),
        ("latest_test_result", "latest_test_id"),
        ("f0_since", "f0_test_id"),
        ("recovered_on", "recovery_test_id"),
    ):
        record = status.get(column)
        table, id_column = (
            ("core.vaccination", "vaccination_id")
            if column.startswith("last_dose")
            else ("core.test_result", "test_result_id")
        )
        if record is not None:
            sources[field] = [_where(cur, table, id_column, record)]
    if status["recovered_on"] is not None and status["recovery_test_id"] is None:
        sources["recovered_on"] = [
            f"f0_since + {rules.get(rule_set).recovery_days} days (no negative test before)"
        ]
    if status["f0_since"] is not None:
        cur.execute(
            "select path from derived.f0_episode where rule_set = %s and person_id = %s and f0_since = %s",
            (rule_set, person_id, status["f0_since"]),
        )
        path = cur.fetchone()
        sources.setdefault("f0_since", []).append(f"rule: {path[0] if path else '?'}")
        if path and path[0] == "antigen_contact":
            sources["f0_since"].extend(_support(cur, rule_set, person_id, status["f0_since"]))
    cur.execute(
        """
        select c.venue_code, c.f0_scanned_at, c.candidate_scanned_at, p.person_key
        from derived.contact_candidate c join derived.person p on p.person_id = c.f0_person_id
        where c.rule_set = %s and c.candidate_person_id = %s
        order by c.candidate_scanned_at desc limit 20
        """,
        (rule_set, person_id),
    )
    sources["contact_candidate"] = [
        f"venue {venue}: scanned {cand:%Y-%m-%d %H:%M}, F0 {f0key[:12]}… scanned {f0at:%Y-%m-%d %H:%M}"
        for venue, f0at, cand, f0key in cur.fetchall()
    ]
    return {
        "person_key": person_key,
        "identifiers": identifiers,
        "rule_set": rule_set,
        "fields": {k: status[k] for k in FIELDS},
        "card_rule": _card_rule(status),
        "sources": {k: v for k, v in sources.items() if v},
    }


# contract §3: the candidacies that support an antigen test sampled at t: of another person's F0 episode that
# began before t, through a scan of the person in [t - 14 days, t) (the rows f0_episode.sql reads)
_SUPPORT = """
select p.person_key, c.f0_since, c.venue_code, c.f0_scanned_at, c.candidate_scanned_at
from derived.contact_candidate c join derived.person p on p.person_id = c.f0_person_id
where c.rule_set = %(rule_set)s and c.candidate_person_id = %(person_id)s and c.f0_person_id <> %(person_id)s
  and c.f0_since < %(t)s and c.candidate_scanned_at < %(t)s
  and c.candidate_scanned_at >= %(t)s - make_interval(days => %(days)s)
order by c.f0_since, c.candidate_scanned_at desc, c.venue_code, p.person_key
limit 5
"""


def _support(cur, rule_set: str, person_id: int, f0_since) -> list[str]:
    """The F0 episodes whose candidacy made an antigen test an F0: whose, which venue, both scan times."""
    days = rules.get(rule_set).contact_lookback_days
    cur.execute(_SUPPORT, {"rule_set": rule_set, "person_id": person_id, "t": f0_since, "days": days})
    tz = ZoneInfo(settings.LOCAL_TZ)

    def local(moment) -> str:
        return f"{moment.astimezone(tz):%Y-%m-%d %H:%M}"

    return [
        f"supported by the F0 episode of {key[:12]}… (f0_since {local(since)}): venue {venue},"
        f" that F0 scanned {local(f0at)}, this person scanned {local(cand)} (local times)"
        for key, since, venue, f0at, cand in cur.fetchall()
    ]


def _card_rule(s: dict) -> str:
    if s["f0"]:
        return "red: an active F0 (§4.1)"
    if s["card_colour"] == "green":
        return (
            "green: fully vaccinated (§4.2)"
            if s["fully_vaccinated"]
            else "green: recovered within 180 days (§4.2)"
        )
    if s["card_colour"] == "yellow":
        return "yellow: a dose 14 days old, or a negative RT-PCR within 72 hours (§4.3)"
    return "red: none of the above (§4.4)"


def render(report: dict) -> str:
    lines = [
        f"person {report['person_key']}  ({', '.join(report['identifiers'])})  rule set {report['rule_set']}"
    ]
    lines.append(f"card: {report['card_rule']}")
    for field, value in report["fields"].items():
        lines.append(f"  {field:24} {'' if value is None else value}")
        for source in report["sources"].get(field, []):
            lines.append(f"  {'':24}   ← {source}")
    return "\n".join(lines)
