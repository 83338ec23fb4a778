"""The daily report's charts: inline SVG built from aggregates, no JavaScript library, nothing fetched.
Used by :mod:`covidsync.marts.daily_report` and the sections other modules add to it (a module of its own so
that a section's module and the report do not import each other). Each chart is returned as
:class:`markupsafe.Markup` (every label in it escaped here), so the autoescaping templates print it as is."""

from __future__ import annotations

import datetime as dt

from markupsafe import Markup, escape

_SERIES = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728")


def _e(value) -> str:
    return str(escape(value))


def _empty(chart: str, width: int, message: str) -> Markup:
    return Markup(
        f'<svg class="chart" data-chart="{chart}" width="{width}" height="40" role="img">'
        f'<text x="8" y="24">{_e(message)}</text></svg>'
    )


def bar_chart(
    chart: str, title: str, categories: list[str], series: dict[str, list[float]], unit: str
) -> Markup:
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
    return Markup("".join(out) + f'<div class="legend">{legend}</div>')  # labels escaped above


def line_chart(
    chart: str, title: str, days: list[dt.date], series: dict[str, list[float | None]], unit: str
) -> Markup:
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
    return Markup("".join(out) + f'<div class="legend">{legend}</div>')  # labels escaped above


_HEAT = {"on_time": ("#2ca02c", "on time"), "late": ("#f2b134", "late"), "missing": ("#d62728", "missing")}


def heat_map(chart: str, title: str, facilities: list[str], days: list[dt.date], cells: dict) -> Markup:
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
    return Markup("".join(out) + f'<div class="legend">{legend}</div>')  # labels escaped above
