-- checkin_known (temporary), for an incremental build: the CCCD and CMND check-in identities written since
-- the last build that say nothing new about their person (most people scan with the card a facility record
-- already carries). One is known when its identifier already resolves to a person, an older facility record
-- of that identifier (loaded before the last build, and the person's: not set aside by an operator) gives
-- the same birth date and, when the scan gives all three, the same phone + birth date + name key (rule 4),
-- and each of its name, birth date, gender and phone, where given, is already the person's. Then neither the
-- identifier's facts nor any attribute of the person can change. A changed identity (not a new one) logs
-- its identifier in core.identity_change (migration 0015), so it is still resolved again with what it lost.
-- identity_seed.sql leaves these identities out.
create temp table checkin_known on commit drop as
select distinct
    c.person_kind as kind,
    c.identifier as value
from core.checkin_person as c
-- each identity's person by primary keys (offset 0 keeps the subquery a lookup): joined as sets, the planner
-- hashed all of derived.person_identifier, then all of derived.person, for a day's few thousand identities
-- (whole-table passes; issue 19, branch s6-status)
cross join
    lateral (
        select
            x.person_id,
            y.full_name,
            y.gender,
            y.phone,
            y.date_of_birth,
            y.birth_year_only
        from derived.person_identifier as x
        inner join derived.person as y on x.person_id = y.person_id
        where x.kind = c.person_kind and x.value = c.identifier
        offset 0  -- noqa: AM09
    ) as p
where
    c.changed_at >= %(since)s
    and c.person_kind in ('cccd', 'cmnd')
    and (c.full_name is null or c.full_name = p.full_name)
    and (c.gender is null or c.gender = p.gender)
    and (c.phone is null or c.phone = p.phone)
    and (c.date_of_birth is null or (c.date_of_birth = p.date_of_birth and not p.birth_year_only))
    and exists (
        select 1
        from (
            select
                'vaccination' as source,
                v.vaccination_id as record_id,
                v.full_name,
                v.date_of_birth,
                v.birth_year_only,
                v.phone
            from core.vaccination as v
            where v.citizen_id = c.identifier and v.loaded_at < %(since)s
            union all
            select
                'test_result',
                t.test_result_id,
                t.full_name,
                t.date_of_birth,
                t.birth_year_only,
                t.phone
            from core.test_result as t
            where t.citizen_id = c.identifier and t.loaded_at < %(since)s
        ) as o
        inner join derived.person_record as r on o.source = r.source and o.record_id = r.record_id
        where
            r.person_id = p.person_id
            and (c.date_of_birth is null or (o.date_of_birth = c.date_of_birth and not o.birth_year_only))
            and (
                c.phone is null or c.date_of_birth is null or derived.name_key(c.full_name) is null
                or (o.phone = c.phone and derived.name_key(o.full_name) = derived.name_key(c.full_name))
            )
    );

create unique index on checkin_known (kind, value);
analyze checkin_known;
