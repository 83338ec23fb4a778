"""The daily report's section on PC-Covid adoption and QR compliance (adoption.md §2), for the Department of
Information and Communications: the province's figures in one line, the districts side by side (users over
population and smartphone owners, 7-day change, venues scanning today, silent venues, people scanned), and
the trend of each district's compliance share. Reads the adoption marts only (aggregates and district codes:
no person). :func:`section` returns the section's HTML below its heading; :mod:`covidsync.marts.report` adds it with
``add_section``.
"""

from __future__ import annotations

import datetime as dt

from covidsync import settings

TREND_DAYS = 14


def _pct(value) -> str:
    return "–" if value is None else f"{float(value) * 100:.1f}%"


def _int(value) -> str:
    return "–" if value is None else f"{int(value):,}"


def section(conn, day: dt.date) -> str:
    from covidsync.marts.charts import _e, line_chart

    threshold = settings.min_venue_compliance()
    with conn.cursor() as cur:
        cur.execute(
            """
            select area_name, registered_users, registered_share_population, registered_share_devices,
                   registered_change_7d, national_rank, provinces_ranked, day
            from mart.app_adoption
            where area_level = 'province' and area_code = '17' and day <= %s
            order by day desc limit 1
            """,
            (day,),
        )
        province = cur.fetchone()
        cur.execute(
            """
            with adoption as (
                select distinct on (area_code) area_code, area_name, registered_users, registered_share_population,
                       registered_share_devices, registered_change_7d
                from mart.app_adoption where area_level = 'district' and day <= %(day)s
                order by area_code, day desc
            ),
            compliance as (
                select district_code, registered_venues, active_venues, compliance_share
                from mart.venue_compliance_day
                where day = %(day)s and commune_code = 'all' and venue_type = 'all'
            ),
            silent as (
                select district_code, count(*) as silent from mart.silent_venue where as_of_day = %(day)s
                group by district_code
            ),
            scanning as (
                select district_code, persons_scanned, persons_share_population
                from mart.population_scanning where day = %(day)s
            )
            select coalesce(a.area_code, c.district_code) as district, coalesce(a.area_name, dn.name),
                   a.registered_users,
                   a.registered_share_population, a.registered_share_devices, a.registered_change_7d,
                   c.registered_venues, c.active_venues, c.compliance_share, coalesce(s.silent, 0),
                   p.persons_scanned, p.persons_share_population
            from adoption as a
            full outer join compliance as c on a.area_code = c.district_code
            left join silent as s on s.district_code = coalesce(a.area_code, c.district_code)
            left join scanning as p on p.district_code = coalesce(a.area_code, c.district_code)
            left join core.district as dn on dn.district_code = coalesce(a.area_code, c.district_code)
            order by 1
            """,
            {"day": day},
        )
        districts = cur.fetchall()
        cur.execute(
            """
            select day, district_code, compliance_share from mart.venue_compliance_day
            where commune_code = 'all' and venue_type = 'all' and day > %s - %s and day <= %s
            order by day, district_code
            """,
            (day, TREND_DAYS, day),
        )
        trend = cur.fetchall()
    conn.rollback()
    if province:
        name, users, share_pop, share_phones, change, rank, ranked, as_of = province
        rank_text = f", {rank}th of {ranked} provinces by registered users" if rank else ""
        headline = (
            f"{_e(name or 'Province')}: {_int(users)} PC-Covid users on {as_of.isoformat()} "
            f"({_pct(share_pop)} of the population, {_pct(share_phones)} of smartphone owners; "
            f"{'+' if (change or 0) >= 0 else ''}{_int(change)} in 7 days{rank_text})."
        )
    else:
        headline = "No app-user counts loaded yet (landing/pccovid/app_users/)."
    rows = []
    for (
        code,
        dname,
        users,
        sp,
        sph,
        chg,
        registered,
        active,
        c_share,
        silent,
        persons,
        persons_share,
    ) in districts:
        flag = ' class="low"' if c_share is not None and float(c_share) < threshold else ""
        rows.append(
            f"<tr{flag}><td>{_e(code)}</td><td>{_e(dname or '')}</td><td>{_int(users)}</td><td>{_pct(sp)}</td>"
            f"<td>{_pct(sph)}</td><td>{_int(chg)}</td><td>{_int(active)} / {_int(registered)}</td>"
            f"<td><b>{_pct(c_share)}</b></td><td>{silent}</td><td>{_int(persons)} ({_pct(persons_share)})</td></tr>"
        )
    rows = "".join(rows)
    days = sorted({d for d, _, _ in trend})
    series: dict[str, list[float | None]] = {}
    for d, code, share in trend:
        series.setdefault(code, [None] * len(days))[days.index(d)] = (
            None if share is None else float(share) * 100
        )
    chart = line_chart("compliance", "Share of venues scanning visitors, by district", days, series, "%")
    low = sum(1 for r in districts if r[8] is not None and float(r[8]) < threshold)
    return f"""<p class="note" id="adoption-province">{headline}</p>
<p class="note">Venues scanning: registered venues with at least one check-in on {day.isoformat()}. Silent: venues of
type agency, business, school, market or transport with no scan for {settings.silent_venue_days()}+ days (each
district's list is in <code>outbox/districts/&lt;district&gt;/</code>). {low} district(s) under the
{threshold:.0%} threshold (highlighted; an alert is raised).</p>
<style>tr.low td{{background:#fde2e1}}</style>
<table id="adoption-districts"><tr><th>district</th><th>name</th><th>users</th><th>% population</th>
<th>% smartphone owners</th><th>7-day change</th><th>venues scanning</th><th>compliance</th><th>silent venues</th>
<th>people scanned (% population)</th></tr>{rows}</table>
{chart}
"""
