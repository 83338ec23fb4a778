-- derived.person_record: one row per core vaccination or test-result record and the person it belongs to
-- (records an operator set aside in a birth-date conflict belong to nobody). Only the differences are
-- written; the persons they concern (records added, gone or moved) are touched. An incremental build sees the
-- records of identity_scope only: those of the persons its identifiers resolved to (old_person) may go.
create temp table record_new on commit drop as
select
    o.source,
    o.record_id,
    r.person_id
from identity_obs as o
inner join identity_resolved as r on o.kind = r.kind and o.value = r.value
where o.source in ('vaccination', 'test_result') and not o.excluded;

create unique index on record_new (source, record_id);
analyze record_new;

create temp table record_add on commit drop as
select n.*
from record_new as n
where not exists (
    select 1 from derived.person_record as p
    where n.source = p.source and n.record_id = p.record_id and n.person_id = p.person_id
);

with gone as (
    delete from derived.person_record as p
    where
        p.person_id in (
            -- two branches, one dropped by the planner (an "everyone or ..." filter reads the whole table)
            select o.person_id from old_person as o
            where not %(everyone)s
            union all
            select x.person_id from derived.person as x
            where %(everyone)s
        )
        and not exists (
            select 1 from record_new as n
            where n.source = p.source and n.record_id = p.record_id and n.person_id = p.person_id
        )
    returning p.person_id
),

added as (
    insert into derived.person_record (source, record_id, person_id)
    select
        n.source,
        n.record_id,
        n.person_id
    from record_add as n
    returning person_id
)

insert into touched (person_id)
select g.person_id from gone as g
union
select a.person_id from added as a
on conflict do nothing;
