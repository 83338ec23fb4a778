-- derived.person: one row per resolved person (an anchor of identity_anchor), its attributes from the best
-- source record (facility records first, then a CCCD card scan; names with diacritics first; the most
-- recent record, the check-in identity seen first), upserted by
-- person_key = pseudonym('person', '<anchor kind>:<anchor value>') so that a rebuild gives every person the
-- same key. No birth date while a birth-date conflict of the person is open.
create temp table person_new on commit drop as
with member as (
    select
        a.anchor_kind,
        a.anchor_value,
        o.*,
        row_number() over (
            partition by a.anchor_kind, a.anchor_value
            order by
                o.source_rank asc,
                (o.full_name ~ '[^\x01-\x7f]') desc nulls last,
                o.seen_on desc nulls last,
                o.record_id desc nulls last,
                o.kind asc,
                o.value asc
        ) as best
    from identity_anchor as a
    inner join identity_obs as o on a.kind = o.kind and a.value = o.value and not o.excluded
),

birth as (
    select
        m.anchor_kind,
        m.anchor_value,
        m.date_of_birth,
        m.birth_year_only,
        row_number() over (
            partition by m.anchor_kind, m.anchor_value
            order by m.birth_year_only asc, count(*) desc, m.date_of_birth
        ) as rank_
    from member as m
    where m.date_of_birth is not null
    group by m.anchor_kind, m.anchor_value, m.date_of_birth, m.birth_year_only
),

other_id as (
    select
        a.anchor_kind,
        a.anchor_value,
        min(a.value) filter (where a.kind = 'cmnd') as cmnd,
        min(a.value) filter (where a.kind = 'qid') as qid
    from identity_anchor as a
    group by a.anchor_kind, a.anchor_value
),

conflicted as (
    select distinct
        a.anchor_kind,
        a.anchor_value
    from identity_anchor as a
    inner join identity_birth_date as b on a.kind = b.kind and a.value = b.value
)

select
    m.anchor_kind,
    m.anchor_value,
    encode(
        sha256(
            %(hmac_okey)s
            || sha256(%(hmac_ikey)s || convert_to('person:' || m.anchor_kind || ':' || m.anchor_value, 'UTF8'))
        ),
        'hex'
    ) as person_key,
    case when m.anchor_kind = 'cccd' then m.anchor_value end as citizen_id,
    x.cmnd,
    x.qid,
    (array_agg(m.full_name order by m.best) filter (where m.full_name is not null))[1] as full_name,
    case when c.anchor_kind is null then b.date_of_birth end as date_of_birth,
    coalesce(c.anchor_kind is null and b.birth_year_only, false) as birth_year_only,
    (array_agg(m.gender order by m.best) filter (where m.gender is not null))[1] as gender,
    (array_agg(m.phone order by m.best) filter (where m.phone is not null))[1] as phone,
    (array_agg(m.province_code order by m.best) filter (where m.province_code is not null))[1] as province_code,
    (array_agg(m.district_code order by m.best) filter (where m.district_code is not null))[1] as district_code,
    (array_agg(m.commune_code order by m.best) filter (where m.commune_code is not null))[1] as commune_code
from member as m
left join birth as b on m.anchor_kind = b.anchor_kind and m.anchor_value = b.anchor_value and b.rank_ = 1
left join conflicted as c on m.anchor_kind = c.anchor_kind and m.anchor_value = c.anchor_value
left join other_id as x on m.anchor_kind = x.anchor_kind and m.anchor_value = x.anchor_value
group by m.anchor_kind, m.anchor_value, b.date_of_birth, b.birth_year_only, c.anchor_kind, x.cmnd, x.qid;

insert into derived.person as p (
    person_key, citizen_id, cmnd, qid, full_name, name_key, date_of_birth, birth_year_only, gender, phone,
    province_code, district_code, commune_code
)
select
    n.person_key,
    n.citizen_id,
    n.cmnd,
    n.qid,
    n.full_name,
    derived.name_key(n.full_name),
    n.date_of_birth,
    n.birth_year_only,
    n.gender,
    n.phone,
    n.province_code,
    n.district_code,
    n.commune_code
from person_new as n
-- an incremental run leaves out a person whose stored row already has these values: the conflict clause below
-- would skip it too, but only after locking its row (a lock written to the row and the WAL for each: 6,773 of
-- the generated day's 12,042 persons at 100k; issue 19, s7-status). "everyone or ..." keeps a run of everyone
-- (the first one, a full rebuild) without the filter: the constant is folded after subqueries are pulled up, so
-- an incremental run probes derived.person's primary key once per row (a subplan), whatever the table's
-- statistics say, and a run of everyone has no filter at all (s7-status's anti-join, planned as a nested loop
-- over a table without statistics, made the first run 225 s instead of 25 s at 100k and was reverted; s8-status)
where
    %(everyone)s
    or not exists (
        select 1 from derived.person as x
        where
            x.person_key = n.person_key
            and (
                x.citizen_id, x.cmnd, x.qid, x.full_name, x.date_of_birth, x.birth_year_only, x.gender, x.phone,
                x.province_code, x.district_code, x.commune_code
            )
            is not distinct from (
                n.citizen_id, n.cmnd, n.qid, n.full_name, n.date_of_birth, n.birth_year_only, n.gender, n.phone,
                n.province_code, n.district_code, n.commune_code
            )
    )
on conflict (person_key) do update set
    citizen_id = excluded.citizen_id,
    cmnd = excluded.cmnd,
    qid = excluded.qid,
    full_name = excluded.full_name,
    name_key = excluded.name_key,
    date_of_birth = excluded.date_of_birth,
    birth_year_only = excluded.birth_year_only,
    gender = excluded.gender,
    phone = excluded.phone,
    province_code = excluded.province_code,
    district_code = excluded.district_code,
    commune_code = excluded.commune_code,
    updated_at = now()
where (
    p.citizen_id, p.cmnd, p.qid, p.full_name, p.date_of_birth, p.birth_year_only, p.gender, p.phone,
    p.province_code, p.district_code, p.commune_code
)
is distinct from (
    excluded.citizen_id, excluded.cmnd, excluded.qid, excluded.full_name, excluded.date_of_birth,
    excluded.birth_year_only, excluded.gender, excluded.phone, excluded.province_code, excluded.district_code,
    excluded.commune_code
);
