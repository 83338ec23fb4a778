-- identity_scope (temporary), one round of the walk: the identifiers and phones one step from those the last
-- round found (round %(round)s). A step is: a document to the phones its records carry and back; a check-in
-- identity to its phone and back; a CCCD to the identifiers a QR linked to it and back; a pair of an
-- operator's decision; an identifier to every identifier of the person it resolved to at the last build. Run
-- until a round finds nothing: the scope is then every connected component (now or at the last build) that
-- a change reached, and resolving only it gives what resolving everyone gives (rule 4's phone + birth date
-- + name key always contains a phone, so its matches are one phone apart). Every step is an index lookup.
-- The person step walks each person once: the frontier's persons at the last build go into old_person as they
-- are found (every identifier of the scope is a frontier once, so old_person ends as the persons of the whole
-- scope), and only a person new to old_person brings its identifiers. An identifier that came in through its
-- person (most of them) would bring the same identifiers again (issue 19, branch s6-status).
-- The walk keeps what it reads: the records and check-in identities of the frontier's identifiers go into the work
-- tables scope_vaccination, scope_test_result and scope_checkin_person (identity.py), so identity_obs.sql reads
-- them there, not from core again (every identifier of the scope is a frontier once; issue 19, s9-status).
with frontier as (
    select
        s.kind,
        s.value
    from identity_scope as s
    where s.round = %(round)s
),

walked as (
    insert into old_person (person_id)
    select distinct i.person_id
    from frontier as f
    inner join derived.person_identifier as i on f.kind = i.kind and f.value = i.value
    on conflict do nothing
    returning person_id
),

vaccination_read as (
    insert into scope_vaccination
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
        v.vaccinated_on,
        f.kind
    from frontier as f
    inner join core.vaccination as v on f.value = v.citizen_id
    where f.kind in ('cccd', 'cmnd')
    returning citizen_id, phone
),

test_result_read as (
    insert into scope_test_result
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
        t.sampled_at,
        f.kind
    from frontier as f
    inner join core.test_result as t on f.value = t.citizen_id
    where f.kind in ('cccd', 'cmnd')
    returning citizen_id, phone
),

checkin_person_read as (
    insert into scope_checkin_person
    select c.*
    from frontier as f
    inner join core.checkin_person as c on f.kind = c.person_kind and f.value = c.identifier
    returning person_kind, identifier, phone
)

insert into identity_scope (kind, value, round)
select distinct
    n.kind,
    n.value,
    %(round)s + 1
from (
    select
        'phone' as kind,
        v.phone as value
    from vaccination_read as v
    union all
    select
        'phone',
        t.phone
    from test_result_read as t
    union all
    select
        'phone',
        coalesce(c.phone, case when c.person_kind = 'phone' then c.identifier end)
    from checkin_person_read as c
    union all
    select
        case length(v.citizen_id) when 12 then 'cccd' else 'cmnd' end,
        v.citizen_id
    from frontier as f
    inner join core.vaccination as v on f.value = v.phone
    where f.kind = 'phone' and length(v.citizen_id) in (9, 12)
    union all
    select
        case length(t.citizen_id) when 12 then 'cccd' else 'cmnd' end,
        t.citizen_id
    from frontier as f
    inner join core.test_result as t on f.value = t.phone
    where f.kind = 'phone' and length(t.citizen_id) in (9, 12)
    union all
    select
        c.person_kind,
        c.identifier
    from frontier as f
    inner join core.checkin_person as c on f.value = c.phone
    where f.kind = 'phone'
    union all
    select
        l.other_kind,
        l.other_value
    from frontier as f
    inner join core.identity_link as l on f.value = l.citizen_id
    where f.kind = 'cccd'
    union all
    select
        'cccd',
        l.citizen_id
    from frontier as f
    inner join core.identity_link as l on f.kind = l.other_kind and f.value = l.other_value
    union all
    select
        d.other_kind,
        d.other_value
    from frontier as f
    inner join derived.identity_decision as d on f.kind = d.kind and f.value = d.value
    where d.other_kind <> 'dob'
    union all
    select
        d.kind,
        d.value
    from frontier as f
    inner join derived.identity_decision as d on f.kind = d.other_kind and f.value = d.other_value
    union all
    select
        o.kind,
        o.value
    from walked as w
    inner join derived.person_identifier as o on w.person_id = o.person_id
) as n
where n.value is not null
on conflict do nothing;
