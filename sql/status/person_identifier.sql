-- derived.person_identifier: one row per identifier value and the person it resolved to, with its pseudonym
-- (= core.checkin.person_key of scans that carried it). CCCD, CMND and QID as resolved; a phone when it is a
-- check-in identity attached to one person, or when the records of exactly one person carry it (a phone a
-- family shares resolves to nobody: its scans stay unresolved until an operator decides).
delete from derived.person_identifier;

insert into derived.person_identifier (kind, value, identity_key, person_id)
with resolved as (
    select
        a.kind,
        a.value,
        p.person_id
    from identity_anchor as a
    inner join person_new as n on a.anchor_kind = n.anchor_kind and a.anchor_value = n.anchor_value
    inner join derived.person as p on n.person_key = p.person_key
),

phone_holder as (
    select
        o.phone as value,
        min(r.person_id) as person_id
    from identity_obs as o
    inner join resolved as r on o.kind = r.kind and o.value = r.value
    where o.phone is not null and not o.excluded and o.source <> 'checkin'
    group by o.phone
    having count(distinct r.person_id) = 1
)

select
    r.kind,
    r.value,
    encode(sha256(%(hmac_okey)s || sha256(%(hmac_ikey)s || convert_to(r.kind || ':' || r.value, 'UTF8'))), 'hex'),
    r.person_id
from resolved as r
union all
select
    'phone',
    h.value,
    encode(sha256(%(hmac_okey)s || sha256(%(hmac_ikey)s || convert_to('phone:' || h.value, 'UTF8'))), 'hex'),
    h.person_id
from phone_holder as h
where
    not exists (
        select 1 from resolved as r
        where r.kind = 'phone' and r.value = h.value
    )
    and not exists (
        select 1 from identity_conflict as c
        where c.kind = 'phone' and c.value = h.value
    );
