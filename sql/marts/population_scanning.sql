-- mart.population_scanning: per local day and venue district, the distinct persons scanned (pseudonymous
-- keys; direction in) over the district's latest population, and the scans by QR kind: CCCD card QR,
-- personal QR of Decision 1405, typed keys (shares among the scans whose kind is known). Rebuilt whole.
-- Parameters: as_of_day.
delete from mart.population_scanning;

insert into mart.population_scanning (
    day, district_code, persons_scanned, population, persons_share_population, scans, scans_card_qr,
    scans_personal_qr, scans_typed, scans_kind_unknown, share_card_qr, share_personal_qr, share_typed
)
with scan as (
    select
        c.local_day as day,
        coalesce(v.district_code, 'unknown') as district_code,
        count(distinct c.person_key) as persons,
        count(*) as scans,
        count(*) filter (where c.qr_kind = 'cccd_qr') as cccd_qr,
        count(*) filter (where c.qr_kind = 'personal_qr') as personal_qr,
        count(*) filter (where c.qr_kind = 'typed') as typed,
        count(*) filter (where c.qr_kind is null) as unknown_kind
    from core.checkin as c
    left join core.venue as v on c.venue_code = v.venue_code
    where c.direction = 'in' and c.local_day <= %(as_of_day)s
    group by c.local_day, coalesce(v.district_code, 'unknown')
)

select
    s.day,
    s.district_code,
    s.persons,
    p.population,
    round(s.persons::numeric / p.population, 4),
    s.scans,
    s.cccd_qr,
    s.personal_qr,
    s.typed,
    s.unknown_kind,
    round(s.cccd_qr::numeric / nullif(s.scans - s.unknown_kind, 0), 4),
    round(s.personal_qr::numeric / nullif(s.scans - s.unknown_kind, 0), 4),
    round(s.typed::numeric / nullif(s.scans - s.unknown_kind, 0), 4)
from scan as s
left join lateral (
    select ap.population
    from core.area_population as ap
    where ap.area_code = s.district_code and ap.year <= extract(year from s.day)
    order by ap.year desc
    limit 1
) as p on true;
