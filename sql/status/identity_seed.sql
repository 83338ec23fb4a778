-- identity_scope (temporary), for an incremental build: one row per identifier or phone whose facts changed
-- since the last build (round 0 of the walk in identity_scope.sql): those of the facility records (but the
-- known ones of record_known.sql, which change nothing) and check-in identities written since (but those of
-- checkin_known.sql), of the QR links and review decisions made since, and those a deleted
-- or updated record stopped carrying (core.identity_change). Each is found through an index on its time.
insert into identity_scope (kind, value, round)
select distinct
    s.kind,
    s.value,
    0
from (
    select
        case length(v.citizen_id) when 12 then 'cccd' else 'cmnd' end as kind,
        v.citizen_id as value
    from core.vaccination as v
    where
        v.loaded_at >= %(since)s
        and length(v.citizen_id) in (9, 12)
        and not exists (
            select 1 from record_known as k
            where k.source = 'vaccination' and k.record_id = v.vaccination_id
        )
    union all
    select
        case length(t.citizen_id) when 12 then 'cccd' else 'cmnd' end,
        t.citizen_id
    from core.test_result as t
    where
        t.loaded_at >= %(since)s
        and length(t.citizen_id) in (9, 12)
        and not exists (
            select 1 from record_known as k
            where k.source = 'test_result' and k.record_id = t.test_result_id
        )
    union all
    select
        c.person_kind,
        c.identifier
    from core.checkin_person as c
    where
        c.changed_at >= %(since)s
        and not exists (
            select 1 from checkin_known as k
            where k.kind = c.person_kind and k.value = c.identifier
        )
    union all
    select
        'cccd',
        l.citizen_id
    from core.identity_link as l
    where l.first_seen_at >= %(since)s
    union all
    select
        d.kind,
        d.value
    from derived.identity_decision as d
    where d.decided_at >= %(since)s
    union all
    select
        d.other_kind,
        d.other_value
    from derived.identity_decision as d
    where d.decided_at >= %(since)s and d.other_kind <> 'dob'
    union all
    select
        x.kind,
        x.value
    from core.identity_change as x
    where x.changed_at >= %(since)s
) as s
on conflict do nothing;
