-- derived.person_record: one row per core vaccination or test-result record and the person it belongs to
-- (records an operator set aside in a birth-date conflict belong to nobody).
delete from derived.person_record;

insert into derived.person_record (source, record_id, person_id)
select
    o.source,
    o.record_id,
    p.person_id
from identity_obs as o
inner join identity_anchor as a on o.kind = a.kind and o.value = a.value
inner join person_new as n on a.anchor_kind = n.anchor_kind and a.anchor_value = n.anchor_value
inner join derived.person as p on n.person_key = p.person_key
where o.source in ('vaccination', 'test_result') and not o.excluded;
