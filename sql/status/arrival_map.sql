-- arr_map (temporary): every pseudonymous key of the persons in scope, with the person's group key (the
-- resolved person's person_key, else the raw key itself) and person_id. A key of a resolved person brings in
-- the person's other keys (a scan by CCCD and a declaration by phone are one person's); a group key of an
-- earlier arrival (a person_key of derived.person) brings in that person's keys.
insert into arr_key (raw_key)
select i2.identity_key
from arr_key as k
inner join derived.person_identifier as i on k.raw_key = i.identity_key
inner join derived.person_identifier as i2 on i.person_id = i2.person_id
union
select i.identity_key
from arr_key as k
inner join derived.person as p on k.raw_key = p.person_key
inner join derived.person_identifier as i on p.person_id = i.person_id
on conflict do nothing;

insert into arr_map (raw_key, group_key, person_id)
select distinct on (k.raw_key)
    k.raw_key,
    coalesce(p.person_key, k.raw_key),
    p.person_id
from arr_key as k
left join derived.person_identifier as i on k.raw_key = i.identity_key
left join derived.person as p on i.person_id = p.person_id
where
    not exists (
        select 1 from derived.person as q
        where q.person_key = k.raw_key
    )
order by k.raw_key, p.person_id;
