"""The daily report's section on arrivals into the province (arrivals.md §3; issue 24), for the provincial
health department: arrivals of the day and the last 7 days by the origin's risk level (a chart), the share
of checkpoint arrivals with a movement declaration, and the communes with overdue tests (a table). Reads
the arrivals marts only (``mart.arrival_day``, ``mart.arrival_declaration_coverage``,
``mart.arrival_followup_week``) and the commune names: counts and area codes, never a person.
:func:`section` returns the section's HTML below its heading (``templates/arrivals.html``); :mod:`covidsync.marts.daily_report` adds it with
``add_section``.
"""

from __future__ import annotations

import datetime as dt

WEEKS = 4  # the overdue table counts the due tests of the last 4 weeks
LEVELS = {4: "level 4 (red)", 3: "level 3 (orange)", 2: "level 2 (yellow)", 1: "level 1 (green)"}


def section(conn, day: dt.date) -> str:
    from covidsync.marts.charts import bar_chart
    from covidsync.marts.templating import render

    with conn.cursor() as cur:
        cur.execute(
            """
            select origin_level,
                   coalesce(sum(arrivals) filter (where day = %(day)s), 0),
                   coalesce(sum(arrivals) filter (where day > %(day)s - 7), 0)
            from mart.arrival_day where day <= %(day)s and day > %(day)s - 7
            group by origin_level
            """,
            {"day": day},
        )
        by_level = {level: (today, week) for level, today, week in cur.fetchall()}
        cur.execute(
            """
            select coalesce(sum(arrivals) filter (where origin_province_code = 'unknown'), 0),
                   coalesce(sum(arrivals), 0)
            from mart.arrival_day where day = %s
            """,
            (day,),
        )
        unknown, total = cur.fetchone()
        cur.execute(
            "select coalesce(sum(with_declaration), 0), coalesce(sum(arrival_scans), 0)"
            " from mart.arrival_declaration_coverage where day = %s",
            (day,),
        )
        declared, scanned = cur.fetchone()
        cur.execute(
            """
            select w.commune_code, c.name, d.name, sum(w.overdue), sum(w.due_tests), sum(w.sampled)
            from mart.arrival_followup_week as w
            left join core.commune as c on c.commune_code = w.commune_code
            left join core.district as d on d.district_code = c.district_code
            where w.week > %s - %s * 7 and w.week <= %s
            group by w.commune_code, c.name, d.name
            having sum(w.overdue) > 0
            order by sum(w.overdue) desc, w.commune_code
            """,
            (day, WEEKS, day),
        )
        overdue = cur.fetchall()
    conn.rollback()
    categories = [LEVELS[level] for level in (4, 3, 2, 1) if level in by_level]
    series = {
        day.isoformat(): [float(by_level[lv][0]) for lv in (4, 3, 2, 1) if lv in by_level],
        "last 7 days": [float(by_level[lv][1]) for lv in (4, 3, 2, 1) if lv in by_level],
    }
    chart = bar_chart("arrivals", "Arrivals by the risk level of their origin", categories, series, "")
    return render(
        "arrivals.html",
        day=day,
        total=int(total),
        unknown=int(unknown),
        coverage=f"{declared / scanned:.0%}" if scanned else "–",
        chart=chart,
        weeks=WEEKS,
        overdue=[
            {
                "code": code,
                "name": name or "",
                "district": district or "",
                "overdue": int(late),
                "sampled": int(sampled),
                "due": int(due),
            }
            for code, name, district, late, due, sampled in overdue
        ],
    )
