-- publish.commune_arrival_row: the commune work lists (personal data), one row per open arrival (ends_on on
-- or after the local date of the last arrivals build's as_of), read through publish.commune_arrival_followup
-- under row-level security (contract §3). Rebuilt whole (the open arrivals of a few weeks) each time the
-- assets derived.arrival / arrival_followup change (DAG publish_commune_worklists). Name and phone: the
-- resolved person's, else what the person's scans or declarations said (core.checkin_person).
-- Parameters: rule_set.
delete from publish.commune_arrival_row as w
where w.rule_set = %(rule_set)s;

insert into publish.commune_arrival_row (
    rule_set, arrival_key, commune_code, district_code, full_name, phone, arrived_at, seen_by,
    checkpoint_venue_code, origin, origin_level, category, measure, days, ends_on, due_days, sampled_days,
    overdue_days, positive_sampled_at, symptoms_reported, reported_contact_with_f0, needs_declaration
)
select
    a.rule_set,
    a.arrival_key,
    a.destination_commune_code,
    a.destination_district_code,
    coalesce(p.full_name, cp.full_name),
    coalesce(p.phone, cp.phone),
    a.arrived_at,
    a.seen_by,
    a.checkpoint_venue_code,
    case
        when a.origin_province_code is null then 'không rõ (chưa khai báo di chuyển)'
        when not a.origin_known
            then
                concat_ws('/', a.origin_province_code, a.origin_district_code, a.origin_commune_code)
                || ' (mã không rõ)'
        else concat_ws(', ', rc.name, rd.name, rp.name)
    end,
    a.origin_level,
    a.category,
    a.measure,
    a.days,
    a.ends_on,
    coalesce(f.due_days, '{}'),
    coalesce(f.sampled_days, '{}'),
    coalesce(f.overdue_days, '{}'),
    a.positive_sampled_at,
    a.symptoms_reported,
    a.reported_contact_with_f0,
    a.seen_by = 'scan'
from derived.arrival as a
inner join derived.arrival_build_state as s on a.rule_set = s.rule_set
left join derived.person as p on a.person_id = p.person_id
left join ref.province as rp on a.origin_province_code = rp.province_code
left join ref.district as rd on a.origin_district_code = rd.district_code
left join ref.commune as rc on a.origin_commune_code = rc.commune_code
left join lateral (
    select
        array_agg(x.due_on order by x.due_on) as due_days,
        array_agg(x.due_on order by x.due_on) filter (where x.sampled) as sampled_days,
        array_agg(x.due_on order by x.due_on) filter (where x.overdue) as overdue_days
    from derived.arrival_followup as x
    where x.rule_set = a.rule_set and x.arrival_key = a.arrival_key
) as f on true
-- an unresolved person: the key is the scan's or declaration's own (core.checkin_person, by its primary key)
left join lateral (
    select
        max(c.full_name) as full_name,
        max(c.phone) as phone
    from core.checkin_person as c
    where
        a.person_id is null
        and c.person_kind = any(array['cccd', 'cmnd', 'qid', 'phone'])
        and c.person_key = a.person_key
) as cp on true
where
    a.rule_set = %(rule_set)s
    and a.destination_commune_code is not null
    and a.ends_on >= (s.as_of at time zone 'Asia/Ho_Chi_Minh')::date;

insert into publish.commune_arrival_state (rule_set, as_of)
select
    s.rule_set,
    s.as_of
from derived.arrival_build_state as s
where s.rule_set = %(rule_set)s
on conflict (rule_set) do update set as_of = excluded.as_of;
