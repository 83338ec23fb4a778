"""The daily report's section on PC-Covid adoption and QR compliance (adoption.md §2), for the Department of
Information and Communications: the province's figures in one line, the districts side by side (users over
population and smartphone owners, 7-day change, venues scanning today, silent venues, people scanned), and
the trend of each district's compliance share. Reads the adoption marts only (aggregates and district codes:
no person). :func:`section` returns the section's HTML below its heading (``templates/adoption.html``); :mod:`covidsync.marts.daily_report` adds it with
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
    from covidsync.marts.charts import line_chart
    from covidsync.marts.templating import render

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
    headline = None
    if province:
        name, users, share_pop, share_phones, change, rank, ranked, as_of = province
        headline = {
            "name": name or "Province",
            "users": _int(users),
            "as_of": as_of.isoformat(),
            "share_population": _pct(share_pop),
            "share_phones": _pct(share_phones),
            "change": f"{'+' if (change or 0) >= 0 else ''}{_int(change)}",
            "rank": rank,
            "ranked": ranked,
        }
    rows = [
        {
            "code": code,
            "name": dname or "",
            "users": _int(users),
            "share_population": _pct(sp),
            "share_phones": _pct(sph),
            "change": _int(chg),
            "active": _int(active),
            "registered": _int(registered),
            "compliance": _pct(c_share),
            "low": c_share is not None and float(c_share) < threshold,
            "silent": silent,
            "persons": _int(persons),
            "persons_share": _pct(persons_share),
        }
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
        ) in districts
    ]
    days = sorted({d for d, _, _ in trend})
    series: dict[str, list[float | None]] = {}
    for d, code, share in trend:
        series.setdefault(code, [None] * len(days))[days.index(d)] = (
            None if share is None else float(share) * 100
        )
    chart = line_chart("compliance", "Share of venues scanning visitors, by district", days, series, "%")
    return render(
        "adoption.html",
        province=headline,
        day=day,
        silent_days=settings.silent_venue_days(),
        low=sum(1 for r in rows if r["low"]),
        threshold=f"{threshold:.0%}",
        districts=rows,
        chart=chart,
    )
