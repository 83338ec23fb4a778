-- arr_key (temporary): the keys of the arrivals a newly loaded risk-level file can reach: an origin in a
-- province with an area (the province, or a district or commune in it) of a new version's row, travelling
-- on a day that row covers. A new measures matrix reaches every arrival (the module widens to a full scope).
insert into arr_key (raw_key)
select a.person_key
from derived.arrival as a
inner join ref.area as ar on a.origin_province_code = ar.province_code
inner join ref.risk_level as r on ar.area_code = r.area_code
where
    a.rule_set = %(rule_set)s
    and r.version_id > %(risk_version)s
    and a.travel_date >= r.effective_from
    and (r.in_force_to is null or a.travel_date <= r.in_force_to)
on conflict do nothing;
