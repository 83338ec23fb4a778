-- record_known (temporary), for an incremental build: the facility records loaded since the last build that
-- bring nothing new about their person, so that identity resolution need not look at them (a day's doses and
-- tests are mostly of persons already resolved, with the same name, phone and birth date as before). A record
-- is known when an older record of the same identifier (loaded before the last build, and belonging to a
-- person: not set aside by an operator) carries exactly the same name, birth date, gender, phone and address,
-- and each of those, where given, is already the person's. Then the identifier's facts (its birth dates and
-- phone + birth date + name keys) are unchanged, and the person's attributes, chosen per attribute from the
-- best record that gives one, cannot change whichever record ranks first; the record belongs to that person.
-- identity_seed.sql leaves these records out; identity_record_attach.sql gives them their person.
create temp table record_known on commit drop as
with facility_record as not materialized (
    -- both facility datasets in one shape; inlined at each use, so each use's filter reaches its index
    select
        'vaccination' as source,
        v.vaccination_id as record_id,
        v.loaded_at,
        v.citizen_id,
        v.full_name,
        v.date_of_birth,
        v.birth_year_only,
        v.gender,
        v.phone,
        v.province_code,
        v.district_code,
        v.commune_code
    from core.vaccination as v
    union all
    select
        'test_result',
        t.test_result_id,
        t.loaded_at,
        t.citizen_id,
        t.full_name,
        t.date_of_birth,
        t.birth_year_only,
        t.gender,
        t.phone,
        t.province_code,
        t.district_code,
        t.commune_code
    from core.test_result as t
),

fresh as (
    select r.*
    from facility_record as r
    where r.loaded_at >= %(since)s and length(r.citizen_id) in (9, 12)
),

older as (
    select r.*
    from facility_record as r
    where r.loaded_at < %(since)s
),

twin as (
    select distinct on (f.source, f.record_id)
        f.*,
        r.person_id
    from fresh as f
    inner join older as o
        on
            f.citizen_id = o.citizen_id
            and (
                f.full_name, f.date_of_birth, f.birth_year_only, f.gender, f.phone, f.province_code,
                f.district_code, f.commune_code
            )
            is not distinct from (
                o.full_name, o.date_of_birth, o.birth_year_only, o.gender, o.phone, o.province_code,
                o.district_code, o.commune_code
            )
    inner join derived.person_record as r on o.source = r.source and o.record_id = r.record_id
    order by f.source, f.record_id, r.person_id
)

select
    f.source,
    f.record_id,
    case length(f.citizen_id) when 12 then 'cccd' else 'cmnd' end as kind,
    f.citizen_id as value,
    f.person_id
from twin as f
inner join derived.person as p on f.person_id = p.person_id
where
    (f.full_name is null or f.full_name = p.full_name)
    and (f.gender is null or f.gender = p.gender)
    and (f.phone is null or f.phone = p.phone)
    and (f.province_code is null or f.province_code = p.province_code)
    and (f.district_code is null or f.district_code = p.district_code)
    and (f.commune_code is null or f.commune_code = p.commune_code)
    and (
        f.date_of_birth is null
        or (f.date_of_birth = p.date_of_birth and f.birth_year_only = p.birth_year_only)
    );

create unique index on record_known (source, record_id);
analyze record_known;
