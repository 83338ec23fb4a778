-- identity_obs (temporary): one row per facility record or check-in identity, with the identifier it
-- carries (kind, value) and what it says about the person; pdn is the phone + birth date + name key of
-- rule 4 when all three are known; excluded marks records an operator decided are not this identifier's
-- person (a birth-date conflict settled as distinct). Everyone's in a full build; in an incremental one, only
-- those of the identifiers in identity_scope: the rows the walk read for them (identity_scope.sql keeps them in
-- scope_vaccination, scope_test_result and scope_checkin_person, a facility record with the kind of the identifier
-- that found it), so no core table is read again (issue 19, s9-status). Each source is two branches, one of
-- which the planner drops (an "everyone or exists (...)" filter would not become a join).
create temp table identity_obs on commit drop as
with vaccination_in as (
    select
        v.vaccination_id,
        v.citizen_id,
        v.full_name,
        v.date_of_birth,
        v.birth_year_only,
        v.gender,
        v.phone,
        v.province_code,
        v.district_code,
        v.commune_code,
        v.vaccinated_on
    from core.vaccination as v
    where %(everyone)s
    union all
    select
        v.vaccination_id,
        v.citizen_id,
        v.full_name,
        v.date_of_birth,
        v.birth_year_only,
        v.gender,
        v.phone,
        v.province_code,
        v.district_code,
        v.commune_code,
        v.vaccinated_on
    from scope_vaccination as v
    where not %(everyone)s and v.fkind = case length(v.citizen_id) when 12 then 'cccd' else 'cmnd' end
),

test_result_in as (
    select
        t.test_result_id,
        t.citizen_id,
        t.full_name,
        t.date_of_birth,
        t.birth_year_only,
        t.gender,
        t.phone,
        t.province_code,
        t.district_code,
        t.commune_code,
        t.sampled_at
    from core.test_result as t
    where %(everyone)s
    union all
    select
        t.test_result_id,
        t.citizen_id,
        t.full_name,
        t.date_of_birth,
        t.birth_year_only,
        t.gender,
        t.phone,
        t.province_code,
        t.district_code,
        t.commune_code,
        t.sampled_at
    from scope_test_result as t
    where not %(everyone)s and t.fkind = case length(t.citizen_id) when 12 then 'cccd' else 'cmnd' end
),

checkin_person_in as (
    select c.*
    from core.checkin_person as c
    where %(everyone)s
    union all
    select c.*
    from scope_checkin_person as c
    where not %(everyone)s
),

facility_record as (
    select
        'vaccination' as source,
        v.vaccination_id as record_id,
        v.citizen_id,
        v.full_name,
        v.date_of_birth,
        v.birth_year_only,
        v.gender,
        v.phone,
        v.province_code,
        v.district_code,
        v.commune_code,
        v.vaccinated_on as seen_on
    from vaccination_in as v
    union all
    select
        'test_result' as source,
        t.test_result_id,
        t.citizen_id,
        t.full_name,
        t.date_of_birth,
        t.birth_year_only,
        t.gender,
        t.phone,
        t.province_code,
        t.district_code,
        t.commune_code,
        (t.sampled_at at time zone 'Asia/Ho_Chi_Minh')::date
    from test_result_in as t
),

observed as (
    select
        f.source,
        f.record_id,
        case length(f.citizen_id) when 12 then 'cccd' else 'cmnd' end as kind,
        f.citizen_id as value,
        f.full_name,
        f.date_of_birth,
        f.birth_year_only,
        f.gender,
        f.phone,
        f.province_code,
        f.district_code,
        f.commune_code,
        f.seen_on,
        1 as source_rank
    from facility_record as f
    where length(f.citizen_id) in (9, 12)
    union all
    select
        'checkin' as source,
        null::bigint,
        c.person_kind,
        c.identifier,
        c.full_name,
        c.date_of_birth,
        false,
        c.gender,
        coalesce(c.phone, case when c.person_kind = 'phone' then c.identifier end),
        null,
        null,
        null,
        -- the day first seen, not last: a scan that only moves last_seen_at changes nothing here, so a day of
        -- scans does not make everyone scanned a person to resolve again
        (c.first_seen_at at time zone 'Asia/Ho_Chi_Minh')::date,
        case c.person_kind when 'cccd' then 2 else 3 end
    from checkin_person_in as c
),

-- the name key once per row (4-5 µs a call): materialized, or the planner computes it at each of its uses
keyed as materialized (
    select
        o.*,
        derived.name_key(o.full_name) as name_key
    from observed as o
)

select
    o.*,
    case
        when o.phone is not null and o.date_of_birth is not null and o.name_key is not null
            then o.phone || '|' || o.date_of_birth::text || '|' || o.name_key
    end as pdn,
    exists(
        select 1 from derived.identity_decision as d
        where
            d.kind = o.kind and d.value = o.value and d.other_kind = 'dob'
            and d.other_value = o.date_of_birth::text and d.decision = 'distinct'
    ) as excluded
from keyed as o;
