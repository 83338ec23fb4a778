-- derived.arrival for the persons in scope (arr_map: raw key -> group key, person), as of as_of (contract
-- arrivals.md §2, rule set hb-arrivals-2021-11). Their earlier arrivals are deleted first; the follow-up rows
-- go with them (on delete cascade).
delete from derived.arrival as a
where
    a.rule_set = %(rule_set)s
    and (
        a.person_key in (select m.group_key from arr_map as m)
        or a.person_key in (select k.raw_key from arr_key as k)
        or (a.person_id is not null and not exists (
            select 1 from derived.person as p
            where p.person_id = a.person_id
        ))
    );

insert into derived.arrival (
    rule_set, arrival_key, person_key, person_id, arrived_at, arrival_day, seen_by, checkpoint_venue_code, scans,
    declaration_id, declaration_app, travel_date, origin_province_code, origin_district_code, origin_commune_code,
    origin_known, origin_level, origin_level_area, destination_commune_code, destination_district_code, category,
    measure, days, ends_on, test_days, positive_sampled_at, symptoms_reported, reported_contact_with_f0,
    arrival_rule_set, measures_version, risk_level_version
)
with param as (
    select
        %(as_of)s::timestamptz as as_of,
        %(primary_doses_override)s::jsonb as override,
        (
            select max(v.version_id) from ops.registry_version as v
            where v.registry = 'arrival_measures' and v.status = 'loaded'
        ) as measures_version
),

-- arrival scans: check-ins at checkpoint venues, direction in, before as_of
scan as (
    select
        m.group_key,
        m.person_id,
        c.scanned_at,
        c.venue_code,
        v.commune_code
    from arr_map as m
    inner join core.checkin as c on m.raw_key = c.person_key
    inner join core.venue as v on c.venue_code = v.venue_code and v.venue_type = 'checkpoint'
    cross join param as pa
    where c.direction = 'in' and c.scanned_at < pa.as_of
),

-- one journey: scans less than 24 hours after the one before
scan_start as (
    select
        s.*,
        case
            when
                lag(s.scanned_at) over w is null
                or s.scanned_at - lag(s.scanned_at) over w >= interval '24 hours'
                then 1
            else 0
        end as starts
    from scan as s
    window w as (partition by s.group_key order by s.scanned_at, s.venue_code)
),

scan_journey as (
    select
        s.*,
        sum(s.starts) over (
            partition by s.group_key order by s.scanned_at, s.venue_code rows unbounded preceding
        ) as journey
    from scan_start as s
),

journey as (
    select
        j.group_key,
        j.journey,
        min(j.person_id) as person_id,
        min(j.scanned_at) as first_at,
        count(*) as scans,
        (array_agg(j.venue_code order by j.scanned_at, j.venue_code))[1] as venue_code,
        (array_agg(j.commune_code order by j.scanned_at, j.venue_code))[1] as venue_commune_code
    from scan_journey as j
    group by j.group_key, j.journey
),

-- movement declarations into the province from elsewhere, submitted before as_of
decl as (
    select
        m.group_key,
        m.person_id,
        d.app,
        d.declaration_id,
        d.submitted_at,
        d.travel_date,
        d.origin_province_code,
        d.origin_district_code,
        d.origin_commune_code,
        d.destination_commune_code
    from arr_map as m
    inner join core.declaration as d on m.raw_key = d.person_key
    inner join core.commune as dc on d.destination_commune_code = dc.commune_code
    cross join param as pa
    where
        d.kind = 'movement'
        and d.origin_province_code is distinct from %(province_code)s
        and d.submitted_at < pa.as_of
),

-- a declaration joins the earliest journey whose first scan falls on its travel date or the day after
decl_journey as (
    select distinct on (d.group_key, d.app, d.declaration_id)
        d.*,
        j.journey
    from decl as d
    left join journey as j
        on
            d.group_key = j.group_key
            and (j.first_at at time zone 'Asia/Ho_Chi_Minh')::date between d.travel_date and d.travel_date + 1
    order by d.group_key asc, d.app asc, d.declaration_id asc, j.first_at asc
),

-- a journey's declaration: the latest submitted of those joining it
journey_decl as (
    select distinct on (d.group_key, d.journey) d.*
    from decl_journey as d
    where d.journey is not null
    order by d.group_key asc, d.journey asc, d.submitted_at desc, d.app asc, d.declaration_id asc
),

-- the other declarations are arrivals of their own, one per person and travel date (the latest submitted)
decl_only as (
    select distinct on (d.group_key, d.travel_date) d.*
    from decl_journey as d
    where d.journey is null
    order by d.group_key asc, d.travel_date asc, d.submitted_at desc, d.app asc, d.declaration_id asc
),

base as (
    select
        j.group_key,
        coalesce(j.person_id, d.person_id) as person_id,
        j.first_at as arrived_at,
        case when d.declaration_id is null then 'scan' else 'both' end as seen_by,
        j.venue_code,
        j.scans::integer as scans,
        d.declaration_id,
        d.app,
        d.travel_date,
        d.origin_province_code,
        d.origin_district_code,
        d.origin_commune_code,
        coalesce(d.destination_commune_code, j.venue_commune_code) as destination_commune_code,
        'scan:' || extract(epoch from j.first_at)::numeric::text as event
    from journey as j
    left join journey_decl as d on j.group_key = d.group_key and j.journey = d.journey
    union all
    select
        d.group_key,
        d.person_id,
        (d.travel_date + time '12:00') at time zone 'Asia/Ho_Chi_Minh',
        'declaration',
        null,
        0,
        d.declaration_id,
        d.app,
        d.travel_date,
        d.origin_province_code,
        d.origin_district_code,
        d.origin_commune_code,
        d.destination_commune_code,
        'travel:' || d.travel_date::text
    from decl_only as d
),

placed as (
    select
        b.*,
        (b.arrived_at at time zone 'Asia/Ho_Chi_Minh')::date as arrival_day,
        lv.level as origin_level,
        lv.area_code as origin_level_area,
        lv.version_id as risk_version,
        coalesce(lv.origin_known, false) as origin_known
    from base as b
    left join lateral ref.place_risk_level(
        b.origin_province_code, b.origin_district_code, b.origin_commune_code, b.travel_date,
        %(unknown_origin_level)s
    ) as lv on true
),

-- the category as of the arrival (contract §1.4): recovered (an F0 episode ended within 180 days before),
-- else fully vaccinated (every primary dose, the last at least 14 days before the arrival day), else not
categorised as (
    select
        p.*,
        case
            when p.person_id is null then 'not_fully_vaccinated'
            when exists (
                select 1 from derived.f0_episode as e
                where
                    e.rule_set = %(rule_set)s
                    and e.person_id = p.person_id
                    and e.recovered_at <= p.arrived_at
                    and (e.recovered_at at time zone 'Asia/Ho_Chi_Minh')::date
                    >= p.arrival_day - %(green_recovery_days)s
            ) then 'recovered'
            when (
                select
                    coalesce((pa.override ->> d1.product_code)::integer, vp.primary_doses)
                    = (
                        select count(*) from derived.vaccination_dose as d
                        where
                            d.person_id = p.person_id
                            and d.dose_number <= coalesce((pa.override ->> d1.product_code)::integer, vp.primary_doses)
                            and d.vaccinated_on <= p.arrival_day - %(fully_vaccinated_days)s
                    )
                from derived.vaccination_dose as d1
                inner join core.vaccine_product as vp on d1.product_code = vp.product_code
                cross join param as pa
                where d1.person_id = p.person_id and d1.dose_number = 1
            ) then 'fully_vaccinated'
            else 'not_fully_vaccinated'
        end as category
    from placed as p
),

measured as (
    select
        c.*,
        me.measure,
        me.days,
        me.test_days,
        (c.arrival_day + me.days - 1) as ends_on
    from categorised as c
    cross join param as pa
    -- the measures version in force: its row with the latest effective_from on or before the arrival day
    -- (an arrival before the matrix's first day takes its first rows)
    inner join lateral (
        select
            m.measure,
            m.days,
            m.test_days
        from ref.arrival_measure as m
        where m.version_id = pa.measures_version and m.origin_level = c.origin_level and m.category = c.category
        order by (m.effective_from <= c.arrival_day) desc, m.effective_from desc
        limit 1
    ) as me on true
)

select
    %(rule_set)s,
    encode(sha256(convert_to(m.group_key || '|' || m.event, 'UTF8')), 'hex'),
    m.group_key,
    m.person_id,
    m.arrived_at,
    m.arrival_day,
    m.seen_by,
    m.venue_code,
    m.scans,
    m.declaration_id,
    m.app,
    m.travel_date,
    m.origin_province_code,
    m.origin_district_code,
    m.origin_commune_code,
    m.origin_known,
    m.origin_level,
    m.origin_level_area,
    m.destination_commune_code,
    dc.district_code,
    m.category,
    m.measure,
    m.days,
    m.ends_on,
    m.test_days,
    (
        select min(t.sampled_at)
        from derived.person_record as r
        inner join core.test_result as t on r.record_id = t.test_result_id
        where
            r.source = 'test_result' and r.person_id = m.person_id
            and t.result = 'positive' and not t.pooled and t.sampled_at < pa.as_of
            and (t.sampled_at at time zone 'Asia/Ho_Chi_Minh')::date between m.arrival_day and m.ends_on
    ),
    coalesce(h.symptoms, false),
    coalesce(h.contact, false),
    %(arrival_rule_set)s,
    pa.measures_version::text,
    m.risk_version::text
from measured as m
cross join param as pa
left join core.commune as dc on m.destination_commune_code = dc.commune_code
-- health declarations of the person from 14 days before the arrival to the end of the measure
left join lateral (
    select
        bool_or(d.symptoms_reported) as symptoms,
        bool_or(coalesce(d.contact_with_f0, false)) as contact
    from arr_map as k
    inner join core.declaration as d on k.raw_key = d.person_key
    where
        k.group_key = m.group_key
        and d.kind = 'health'
        and d.submitted_at >= m.arrived_at - interval '14 days'
        and d.submitted_at < pa.as_of
        and (d.submitted_at at time zone 'Asia/Ho_Chi_Minh')::date <= m.ends_on
) as h on true;
