"""The daily report: one static HTML page, charts as inline SVG, no JavaScript library and nothing fetched,
so it opens offline from a file share or as an e-mail attachment.

Sections: vaccination coverage by district, the test positivity trend (28 days), a reporting-timeliness heat
map (facility x the last 14 days), open alerts and open review items (the identity review queue and held
files). Each section is one :class:`Section` in :data:`SECTIONS`; another module adds one with a single
call, ``daily_report.add_section("adoption", "App adoption", body)``. Days and times are local (Asia/Ho_Chi_Minh),
and the page says so; officials read words, not table names. It reads the marts and ``ops.alert``
only: aggregates and facility codes, never a person. Written to ``<report_dir>/daily-YYYY-MM-DD.html`` and
copied to ``<report_dir>/latest.html`` (``COVIDSYNC_REPORT_DIR``, default ``data/reports``).

The page and each section's HTML are Jinja2 templates in ``covidsync/marts/templates/`` with autoescape on
(:mod:`covidsync.marts.templating`): a section's function reads the warehouse, its template prints the values.
A few lines of inline script check, once the page is laid out, that every chart drew its marks, and record
the count in ``<html data-charts-rendered>``: the browser test reads it.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from markupsafe import Markup
from markupsafe import escape as escape

from covidsync.marts import adoption_report, arrivals_report
from covidsync.marts.charts import bar_chart, heat_map, line_chart
from covidsync.marts.templating import render as render_template

log = logging.getLogger(__name__)

HEAT_DAYS = 14
TREND_DAYS = 28


def _rows(cur, query: str, params=None) -> list[tuple]:
    cur.execute(query, params)
    return cur.fetchall()


@dataclass(frozen=True)
class Section:
    """One section of the report: its anchor (``id``), its title, and a function that reads the warehouse
    for the local day and returns the section's HTML body (aggregates only, never a person)."""

    anchor: str
    title: str
    body: Callable[[Any, dt.date], str]


SECTIONS: list[Section] = []


def add_section(anchor: str, title: str, body: Callable[[Any, dt.date], str], *, before: str | None = None):
    """Add a section to the report (``before`` the section with that anchor, else at the end); adding the
    same anchor again replaces it. ``body(cur, day)`` returns HTML, best from a template
    (:func:`covidsync.marts.templating.render`, autoescaped); else escape text with :func:`escape`."""
    section = Section(anchor, title, body)
    existing = [i for i, s in enumerate(SECTIONS) if s.anchor == anchor]
    if existing:
        SECTIONS[existing[0]] = section
        return section
    index = next((i for i, s in enumerate(SECTIONS) if s.anchor == before), len(SECTIONS))
    SECTIONS.insert(index, section)
    return section


def coverage_section(cur, day: dt.date) -> str:
    coverage = _rows(
        cur,
        """
        select distinct on (c.area_code, c.dose_number)
            c.area_code, coalesce(c.area_name, c.area_code), c.dose_number, c.people_cumulative, c.coverage_pct
        from mart.vaccination_coverage as c
        where c.area_level = 'district' and c.product_code = 'all' and c.day <= %s and c.dose_number <= 2
        order by c.area_code, c.dose_number, c.day desc
        """,
        (day,),
    )
    province = _rows(
        cur,
        """
        select distinct on (c.dose_number)
            c.dose_number, coalesce(c.area_name, c.area_code), c.people_cumulative, c.coverage_pct, c.population
        from mart.vaccination_coverage as c
        where c.area_level = 'province' and c.product_code = 'all' and c.day <= %s and c.dose_number <= 2
        order by c.dose_number, c.day desc
        """,
        (day,),
    )
    districts = sorted({(code, name) for code, name, *_ in coverage})
    people = {(code, dose): n for code, _n, dose, n, _p in coverage}
    pct = {(code, dose): p for code, _n, dose, _c, p in coverage}
    have_pct = any(p is not None for p in pct.values())
    if have_pct:
        series = {
            f"dose {d} (% of population)": [float(pct.get((c, d)) or 0) for c, _ in districts] for d in (1, 2)
        }
        unit = "%"
    else:
        series = {f"people with dose {d}": [people.get((c, d), 0) for c, _ in districts] for d in (1, 2)}
        unit = ""
    svg = bar_chart("coverage", "Vaccination coverage by district", [n for _, n in districts], series, unit)
    return render_template(
        "coverage.html",
        day=day,
        have_pct=have_pct,
        province_has_pop=any(pop for *_, pop in province),
        province=[
            {"dose": dose, "name": name, "people": n, "pct": p, "population": pop}
            for dose, name, n, p, pop in province
        ],
        chart=svg,
    )


def positivity_section(cur, day: dt.date) -> str:
    since = day - dt.timedelta(days=TREND_DAYS - 1)
    positivity = _rows(
        cur,
        """
        select day, test_type, sum(positive), sum(positive + negative)
        from mart.test_positivity where day between %s and %s group by day, test_type order by day
        """,
        (since, day),
    )
    trend_days = [since + dt.timedelta(days=i) for i in range(TREND_DAYS)]
    by = {(d, t): (p, n) for d, t, p, n in positivity}
    types = sorted({t for _, t, *_ in positivity})
    trend = {
        t: [
            round(100.0 * by[(d, t)][0] / by[(d, t)][1], 2) if (d, t) in by and by[(d, t)][1] else None
            for d in trend_days
        ]
        for t in types
    }
    svg = line_chart("positivity", "Test positivity by day", trend_days if types else [], trend, "%")
    return render_template("positivity.html", chart=svg)


def timeliness_section(cur, day: dt.date) -> str:
    heat_since = day - dt.timedelta(days=HEAT_DAYS - 1)
    reporting = _rows(
        cur,
        "select facility_code, day, received, on_time from mart.facility_reporting_day"
        " where day between %s and %s order by facility_code, day",
        (heat_since, day),
    )
    grades = _rows(
        cur,
        "select facility_code, completeness_pct, timeliness_pct, rejection_rate, grade"
        " from mart.facility_reporting_month where month = %s order by facility_code",
        (day.replace(day=1),),
    )
    heat_days = [heat_since + dt.timedelta(days=i) for i in range(HEAT_DAYS)]
    cells = {
        (code, d): ("on_time" if on_time else "late" if received else "missing")
        for code, d, received, on_time in reporting
    }
    facilities = sorted({code for code, *_ in reporting})
    svg = heat_map("timeliness", "Reporting timeliness by facility and day", facilities, heat_days, cells)
    rows = [
        {
            "facility": code,
            "completeness": completeness,
            "timeliness": timeliness,
            "rejected": "" if rejected is None else f"{float(rejected) * 100:.1f}",
            "grade": grade,
        }
        for code, completeness, timeliness, rejected, grade in grades
    ]
    return render_template("timeliness.html", chart=svg, grades=rows)


def alerts_section(cur, day: dt.date) -> str:
    alerts = _rows(
        cur,
        "select kind, subject, message from ops.alert where resolved_at is null and kind like 'facility_%%'"
        " order by raised_at desc, alert_id desc limit 50",
    )
    return render_template("alerts.html", alerts=[{"kind": k, "message": m} for k, _s, m in alerts])


# what an official reads for each kind of open review item
REVIEW_KINDS = {
    "link_conflict": "identity: records that point to different persons",
    "shared_phone": "identity: a phone number shared by several persons",
    "birth_date_conflict": "identity: one ID with different dates of birth",
    "held_file": "facility files held for review",
}


def open_reviews(cur) -> list[tuple[str, int]]:
    """The open review items by kind: the identity review queue and the held facility files."""
    rows = _rows(
        cur,
        """
        select kind, count(*) from derived.identity_review where status = 'open' group by kind
        union all
        select 'held_file', count(*) from ops.landing_file where status = 'held' having count(*) > 0
        order by 1
        """,
    )
    return [(kind, int(n)) for kind, n in rows]


def review_section(cur, day: dt.date) -> str:
    review = open_reviews(cur)
    return render_template(
        "review.html",
        total=sum(n for _, n in review),
        review=[
            {"kind": kind, "label": REVIEW_KINDS.get(kind, kind.replace("_", " ")), "count": n}
            for kind, n in review
        ],
    )


add_section("coverage", "Vaccination coverage by district", coverage_section)
add_section("positivity", f"Test positivity, last {TREND_DAYS} days", positivity_section)
add_section("timeliness", f"Reporting timeliness, last {HEAT_DAYS} days", timeliness_section)
add_section(
    "adoption",
    "PC-Covid adoption and QR compliance",
    lambda cur, day: adoption_report.section(cur.connection, day),
)
add_section(
    "arrivals",
    "Arrivals into the province",
    lambda cur, day: arrivals_report.section(cur.connection, day),
)
add_section("alerts", "Open alerts", alerts_section)
add_section("review", "Open review items", review_section)


def local_now() -> dt.datetime:
    from zoneinfo import ZoneInfo

    from covidsync.settings import LOCAL_TZ

    return dt.datetime.now(ZoneInfo(LOCAL_TZ))


def build(conn, day: dt.date) -> str:
    """The report's HTML for a local day (reads the marts as they are: refresh them first)."""
    sections = []
    with conn.cursor() as cur:
        for section in SECTIONS:
            # a section's body is HTML already (escaped by its own template or function)
            html = Markup(section.body(cur, day))
            sections.append({"anchor": section.anchor, "title": section.title, "html": html})
    built = local_now().strftime("%Y-%m-%d %H:%M")
    return str(render_template("daily_report.html", day=day, built=built, sections=sections))


def render(conn, day: dt.date, out_dir: Path) -> Path:
    """Write ``daily-<day>.html`` and ``latest.html`` atomically; returns the day's file."""
    out_dir.mkdir(parents=True, exist_ok=True)
    page = build(conn, day)
    target = out_dir / f"daily-{day.isoformat()}.html"
    for path in (target, out_dir / "latest.html"):
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(page, encoding="utf-8")
        os.replace(tmp, path)
    log.info("daily report written: %s", target)
    return target
