"""The daily report: one static HTML page, charts as inline SVG, no JavaScript library and nothing fetched,
so it opens offline from a file share or as an e-mail attachment.

Sections: vaccination coverage by district, the test positivity trend (28 days), a reporting-timeliness heat
map (facility x the last 14 days), open review items and open alerts. It reads the marts and ``ops.alert``
only: aggregates and facility codes, never a person. Written to ``<report_dir>/daily-YYYY-MM-DD.html`` and
copied to ``<report_dir>/latest.html`` (``COVIDSYNC_REPORT_DIR``, default ``data/reports``).

A few lines of inline script check, once the page is laid out, that every chart drew its marks, and record
the count in ``<html data-charts-rendered>``: the browser test reads it.
"""

from __future__ import annotations

import datetime as dt
import html
import logging
import os
from pathlib import Path

from covidsync.marts import adoption_report

log = logging.getLogger(__name__)

# Where the review queue (another stage) keeps its items; the first that exists is shown.
REVIEW_TABLES = ("ops.review_item", "derived.review_item", "ops.review_queue", "derived.review_queue")
HEAT_DAYS = 14
TREND_DAYS = 28

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#1f2933;max-width:1100px}
h1{font-size:1.5em;margin-bottom:0}h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #ccd;padding-bottom:4px}
p.note{color:#52606d;font-size:.9em}table{border-collapse:collapse;font-size:.9em}
td,th{border:1px solid #ccd;padding:3px 8px;text-align:left}svg.chart{display:block;margin:8px 0}
svg text{font-size:11px;fill:#1f2933}.legend span{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px}
"""

_CHECK = """
document.addEventListener('DOMContentLoaded', function () {
  var n = 0;
  document.querySelectorAll('svg.chart').forEach(function (svg) {
    var marks = svg.querySelectorAll('[data-mark]'), drawn = 0;
    marks.forEach(function (m) { var b = m.getBBox(); if (b.width > 0 && b.height > 0) { drawn++; } });
    svg.setAttribute('data-marks-drawn', drawn);
    if (marks.length === 0 || drawn > 0) { n++; }
  });
  document.documentElement.setAttribute('data-charts-rendered', n);
});
"""

_SERIES = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728")


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _empty(chart: str, width: int, message: str) -> str:
    return (
        f'<svg class="chart" data-chart="{chart}" width="{width}" height="40" role="img">'
        f'<text x="8" y="24">{_e(message)}</text></svg>'
    )


def bar_chart(
    chart: str, title: str, categories: list[str], series: dict[str, list[float]], unit: str
) -> str:
    """Grouped horizontal bars: one row per category, one bar per series."""
    if not categories:
        return _empty(chart, 600, "No data yet.")
    top = max((v for values in series.values() for v in values), default=0) or 1
    label_w, bar_w, row_h, bar_h = 170, 420, 14 * len(series) + 10, 12
    height = 30 + row_h * len(categories)
    out = [
        f'<svg class="chart" data-chart="{chart}" width="{label_w + bar_w + 90}" height="{height}" role="img">',
        f"<title>{_e(title)}</title>",
    ]
    for i, cat in enumerate(categories):
        y0 = 20 + i * row_h
        out.append(f'<text x="0" y="{y0 + row_h / 2 + 4:.0f}">{_e(cat)}</text>')
        for j, (name, values) in enumerate(series.items()):
            v = values[i]
            w = max(1.0, bar_w * v / top) if v else 0
            y = y0 + j * (bar_h + 2)
            out.append(
                f'<rect data-mark="bar" x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" '
                f'fill="{_SERIES[j % len(_SERIES)]}"><title>{_e(cat)} - {_e(name)}: {v:g}{unit}</title></rect>'
            )
            out.append(f'<text x="{label_w + w + 4:.1f}" y="{y + 10}">{v:g}{unit}</text>')
    out.append("</svg>")
    legend = "".join(
        f'<span style="background:{_SERIES[j % len(_SERIES)]}"></span>{_e(name)}'
        for j, name in enumerate(series)
    )
    return "".join(out) + f'<div class="legend">{legend}</div>'


def line_chart(
    chart: str, title: str, days: list[dt.date], series: dict[str, list[float | None]], unit: str
) -> str:
    if not days:
        return _empty(chart, 700, "No data yet.")
    width, height, left, bottom, top_pad = 720, 240, 50, 30, 10
    plot_w, plot_h = width - left - 20, height - bottom - top_pad
    values = [v for vs in series.values() for v in vs if v is not None]
    top = max(values, default=0) or 1
    step = plot_w / max(1, len(days) - 1)

    def xy(i: int, v: float) -> tuple[float, float]:
        return left + i * step, top_pad + plot_h - plot_h * v / top

    out = [f'<svg class="chart" data-chart="{chart}" width="{width}" height="{height}" role="img">']
    out.append(f"<title>{_e(title)}</title>")
    out.append(
        f'<line x1="{left}" y1="{top_pad + plot_h}" x2="{left + plot_w}" y2="{top_pad + plot_h}" stroke="#999"/>'
    )
    for frac in (0, 0.5, 1):
        y = top_pad + plot_h - plot_h * frac
        out.append(f'<text x="4" y="{y + 4:.0f}">{top * frac:.1f}{unit}</text>')
    for i in sorted({0, len(days) - 1, len(days) // 2}):
        anchor = "start" if i == 0 else "end" if i == len(days) - 1 else "middle"
        out.append(
            f'<text x="{left + i * step:.0f}" y="{height - 8}" text-anchor="{anchor}">{days[i].isoformat()}</text>'
        )
    for j, (name, vs) in enumerate(series.items()):
        colour = _SERIES[j % len(_SERIES)]
        points = [xy(i, v) for i, v in enumerate(vs) if v is not None]
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            out.append(
                f'<polyline data-mark="line" fill="none" stroke="{colour}" stroke-width="2" points="{path}"/>'
            )
        for (x, y), (i, v) in zip(points, [(i, v) for i, v in enumerate(vs) if v is not None], strict=True):
            out.append(
                f'<circle data-mark="point" cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}">'
                f"<title>{_e(name)} {days[i].isoformat()}: {v:g}{unit}</title></circle>"
            )
    out.append("</svg>")
    legend = "".join(
        f'<span style="background:{_SERIES[j % len(_SERIES)]}"></span>{_e(name)}'
        for j, name in enumerate(series)
    )
    return "".join(out) + f'<div class="legend">{legend}</div>'


_HEAT = {"on_time": ("#2ca02c", "on time"), "late": ("#f2b134", "late"), "missing": ("#d62728", "missing")}


def heat_map(chart: str, title: str, facilities: list[str], days: list[dt.date], cells: dict) -> str:
    if not facilities:
        return _empty(chart, 600, "No facility is registered yet.")
    cell, left, top = 22, 80, 40
    width, height = left + cell * len(days) + 10, top + cell * len(facilities) + 10
    out = [f'<svg class="chart" data-chart="{chart}" width="{width}" height="{height}" role="img">']
    out.append(f"<title>{_e(title)}</title>")
    for j, day in enumerate(days):
        out.append(
            f'<text x="{left + j * cell + 4}" y="{top - 6}" transform="rotate(-45 {left + j * cell + 4} {top - 6})">'
            f"{day:%d/%m}</text>"
        )
    for i, code in enumerate(facilities):
        y = top + i * cell
        out.append(f'<text x="0" y="{y + 15}">{_e(code)}</text>')
        for j, day in enumerate(days):
            state = cells.get((code, day))
            if state is None:
                continue
            colour, label = _HEAT[state]
            out.append(
                f'<rect data-mark="cell" data-state="{state}" x="{left + j * cell}" y="{y}" width="{cell - 2}" '
                f'height="{cell - 2}" fill="{colour}"><title>{_e(code)} {day.isoformat()}: {label}</title></rect>'
            )
    out.append("</svg>")
    legend = "".join(f'<span style="background:{c}"></span>{label}' for c, label in _HEAT.values())
    return "".join(out) + f'<div class="legend">{legend}</div>'


def _rows(cur, query: str, params=None) -> list[tuple]:
    cur.execute(query, params)
    return cur.fetchall()


def build(conn, day: dt.date) -> str:
    """The report's HTML for a local day (reads the marts as they are: refresh them first)."""
    with conn.cursor() as cur:
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
        since = day - dt.timedelta(days=TREND_DAYS - 1)
        positivity = _rows(
            cur,
            """
            select day, test_type, sum(positive), sum(positive + negative)
            from mart.test_positivity where day between %s and %s group by day, test_type order by day
            """,
            (since, day),
        )
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
        alerts = _rows(
            cur,
            "select kind, subject, message from ops.alert where resolved_at is null and kind like 'facility_%%'"
            " order by raised_at desc, alert_id desc limit 50",
        )
        review_table, review = None, []
        for name in REVIEW_TABLES:
            cur.execute("select to_regclass(%s) is not null", (name,))
            if cur.fetchone()[0]:
                review_table = name
                break
        if review_table:
            cur.execute(
                "select column_name from information_schema.columns where table_schema || '.' || table_name = %s",
                (review_table,),
            )
            columns = {r[0] for r in cur.fetchall()}
            kind = next((c for c in ("kind", "reason", "category", "item_type") if c in columns), None)
            where = (
                " where resolved_at is null"
                if "resolved_at" in columns
                else (" where status = 'open'" if "status" in columns else "")
            )
            from psycopg2 import sql as pgsql

            schema, table = review_table.split(".")
            query = pgsql.SQL("select {}::text, count(*) from {}.{}{} group by 1 order by 1").format(
                pgsql.Identifier(kind) if kind else pgsql.Literal("item"),
                pgsql.Identifier(schema),
                pgsql.Identifier(table),
                pgsql.SQL(where),
            )
            review = _rows(cur, query)

    # coverage by district
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
    coverage_svg = bar_chart(
        "coverage", "Vaccination coverage by district", [n for _, n in districts], series, unit
    )

    # positivity trend, per test type
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
    positivity_svg = line_chart(
        "positivity", "Test positivity by day", trend_days if types else [], trend, "%"
    )

    # timeliness heat map
    heat_days = [heat_since + dt.timedelta(days=i) for i in range(HEAT_DAYS)]
    cells = {
        (code, d): ("on_time" if on_time else "late" if received else "missing")
        for code, d, received, on_time in reporting
    }
    facilities = sorted({code for code, *_ in reporting})
    heat_svg = heat_map(
        "timeliness", "Reporting timeliness by facility and day", facilities, heat_days, cells
    )

    grade_rows = "".join(
        f"<tr><td>{_e(c)}</td><td>{comp}</td><td>{tim}</td><td>{'' if rr is None else f'{float(rr) * 100:.1f}'}</td>"
        f"<td><b>{_e(g)}</b></td></tr>"
        for c, comp, tim, rr, g in grades
    )
    alert_rows = "".join(f"<tr><td>{_e(k)}</td><td>{_e(m)}</td></tr>" for k, _s, m in alerts)
    if review_table:
        review_html = (
            "<table><tr><th>kind</th><th>open items</th></tr>"
            + "".join(f"<tr><td>{_e(k)}</td><td>{n}</td></tr>" for k, n in review)
            + f"</table><p class='note'>From <code>{_e(review_table)}</code>.</p>"
            if review
            else f"<p class='note'>No open review item (<code>{_e(review_table)}</code>).</p>"
        )
    else:
        review_html = (
            "<p class='note' id='review-empty'>No review queue in this warehouse yet: this section stays empty "
            "until the review queue's table exists.</p>"
        )
    coverage_note = (
        "Coverage in per cent of the population in <code>mart.population</code>."
        if have_pct
        else "No district population figures are loaded in <code>mart.population</code>: people vaccinated, "
        "not per cent, are shown."
    )
    province_note = " ".join(
        f"{_e(name)}: {people:,} people with dose {dose}"
        + (f" ({pct}% of {pop:,}, the population in <code>mart.population</code>)." if pop else ".")
        for dose, name, people, pct, pop in province
    )
    generated = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>covidsync daily report {day.isoformat()}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_CSS}</style>
<script>{_CHECK}</script></head>
<body>
<h1>covidsync daily report: {day.isoformat()}</h1>
<p class="note">Hòa Bình. Local day (Asia/Ho_Chi_Minh). Built from the BI marts at {generated}. No personal data.</p>
<h2 id="coverage">Vaccination coverage by district</h2>
<p class="note">{coverage_note} Residence district; doses given up to {day.isoformat()}.</p>
<p class="note" id="province-coverage">{province_note}</p>
{coverage_svg}
<h2 id="positivity">Test positivity, last {TREND_DAYS} days</h2>
<p class="note">Positive / (positive + negative) per local day of sampling, by test type.</p>
{positivity_svg}
<h2 id="timeliness">Reporting timeliness, last {HEAT_DAYS} days</h2>
<p class="note">One expected report per facility and day; on time means a file arrived by the cut-off.</p>
{heat_svg}
<h3>This month's scorecards</h3>
<table><tr><th>facility</th><th>completeness %</th><th>timeliness %</th><th>rows rejected %</th><th>grade</th></tr>
{grade_rows}</table>
{adoption_report.section(conn, day)}
<h2 id="alerts">Open alerts</h2>
<table><tr><th>kind</th><th>message</th></tr>{alert_rows}</table>
<h2 id="review">Open review items</h2>
{review_html}
</body></html>
"""


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
