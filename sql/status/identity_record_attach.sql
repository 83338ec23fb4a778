-- derived.person_record for the known records (record_known.sql) whose identifier the incremental build did
-- not resolve again (no other change reached it): each belongs to the person of its older twin, which this
-- build left as it was. Known records whose identifier is in identity_scope were read by identity_obs and
-- placed by person_record.sql like any other. The persons concerned are touched (a record resent with a new
-- person touches the old one too).
with placed as (
    select
        k.source,
        k.record_id,
        k.person_id
    from record_known as k
    where not exists (
        select 1 from identity_scope as s
        where s.kind = k.kind and s.value = k.value
    )
),

moved_from as (
    select r.person_id
    from placed as k
    inner join derived.person_record as r on k.source = r.source and k.record_id = r.record_id
    where r.person_id <> k.person_id
),

written as (
    insert into derived.person_record as r (source, record_id, person_id)
    select
        k.source,
        k.record_id,
        k.person_id
    from placed as k
    on conflict (source, record_id) do update
        set person_id = excluded.person_id
        where r.person_id <> excluded.person_id
    returning r.person_id
)

insert into touched (person_id)
select w.person_id from written as w
union
select m.person_id from moved_from as m
union
select k.person_id from placed as k
on conflict do nothing;
