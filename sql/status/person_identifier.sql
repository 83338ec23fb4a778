-- derived.person_identifier: one row per identifier value and the person it resolved to, with its pseudonym
-- (= core.checkin.person_key of scans that carried it). CCCD, CMND and QID as resolved; a phone when it is a
-- check-in identity attached to one person, or when the records of exactly one person carry it (a phone a
-- family shares resolves to nobody: its scans stay unresolved until an operator decides).
-- identity_resolved (temporary): every attached identifier and its person_id, for this and person_record.
create temp table identity_resolved on commit drop as
select
    a.kind,
    a.value,
    p.person_id
from identity_anchor as a
inner join person_new as n on a.anchor_kind = n.anchor_kind and a.anchor_value = n.anchor_value
inner join derived.person as p on n.person_key = p.person_key;

create unique index on identity_resolved (kind, value);
analyze identity_resolved;

-- identifier_new (temporary): what derived.person_identifier must hold (for the identifiers of identity_scope
-- in an incremental build); then only the differences are written, the persons they concern are touched and
-- noted (rekeyed: an F0 among them has its scans found again) and the pseudonyms whose person changed noted
-- (changed_key; key_left: the persons they left, for the arrivals step).
create temp table identifier_new on commit drop as
with phone_holder as (
    select
        o.phone as value,
        min(r.person_id) as person_id
    from identity_obs as o
    inner join identity_resolved as r on o.kind = r.kind and o.value = r.value
    where o.phone is not null and not o.excluded and o.source <> 'checkin'
    group by o.phone
    having count(distinct r.person_id) = 1
)

select
    r.kind,
    r.value,
    r.person_id
from identity_resolved as r
union all
select
    'phone',
    h.value,
    h.person_id
from phone_holder as h
left join identity_resolved as r on r.kind = 'phone' and h.value = r.value
left join identity_conflict as c on c.kind = 'phone' and h.value = c.value
where r.value is null and c.value is null;

create unique index on identifier_new (kind, value);
analyze identifier_new;

-- what is not there yet, found before anything is written (an anti-join against a table being inserted
-- into reads its own new pages: quadratic)
create temp table identifier_add on commit drop as
select n.*
from identifier_new as n
where not exists (
    select 1 from derived.person_identifier as i
    where n.kind = i.kind and n.value = i.value and n.person_id = i.person_id
);

with gone as (
    delete from derived.person_identifier as i
    where
        (i.kind, i.value) in (
            -- two branches, one dropped by the planner (an "everyone or ..." filter reads the whole table)
            select
                s.kind,
                s.value
            from identity_scope as s
            where not %(everyone)s
            union all
            select
                x.kind,
                x.value
            from derived.person_identifier as x
            where %(everyone)s
        )
        and not exists (
            select 1 from identifier_new as n
            where n.kind = i.kind and n.value = i.value and n.person_id = i.person_id
        )
    returning i.person_id, i.identity_key
),

added as (
    insert into derived.person_identifier (kind, value, identity_key, person_id)
    select
        n.kind,
        n.value,
        encode(
            sha256(%(hmac_okey)s || sha256(%(hmac_ikey)s || convert_to(n.kind || ':' || n.value, 'UTF8'))), 'hex'
        ),
        n.person_id
    from identifier_add as n
    returning person_id, identity_key
),

rekey as (
    insert into rekeyed (person_id)
    select g.person_id from gone as g
    union
    select a.person_id from added as a
    on conflict do nothing
),

left_ as (
    insert into key_left (identity_key, person_id)
    select
        g.identity_key,
        g.person_id
    from gone as g
),

moved as (
    insert into changed_key (identity_key)
    select g.identity_key from gone as g
    union
    select a.identity_key from added as a
    on conflict do nothing
)

-- touched: of the persons whose identifiers changed, only those this run created (they have no status row yet).
-- A status reads no identifier (doses, tests, episodes and candidacy by person_id), so a person who keeps its
-- row and only gains or loses identifiers keeps its status: its candidacy moves through identity's candidate
-- step, its scans through rekeyed (retrace), its arrivals through the arrivals step's scope (rekeyed), its
-- person row's changes through person_new (the view lines); a removed person's rows are deleted with it
-- (_STALE). Before, all of them were rebuilt: 2,784 of the generated day's 5,044 at 100k, for an equal row
-- (issue 19, branch s5-status).
-- (gone is read before added, as it always was: the identifiers a statement deletes are gone before it inserts
-- them again; a CTE the query does not read runs after it)
insert into touched (person_id)
select u.person_id
from (
    select g.person_id from gone as g
    union
    select a.person_id from added as a
) as u
inner join derived.person as p on u.person_id = p.person_id
where p.created_at = now()
on conflict do nothing;
