-- mart.contact_candidate_count: one row per rule set, local day of the candidate's check-in and venue
-- district: F0s involved, distinct candidates (pseudonymous keys), exposure pairs. Rebuilt whole.
delete from mart.contact_candidate_count;

insert into mart.contact_candidate_count (rule_set, day, district_code, f0_persons, candidates, exposures)
select
    cc.rule_set,
    (cc.candidate_scanned_at at time zone 'Asia/Ho_Chi_Minh')::date as day,
    coalesce(v.district_code, 'unknown') as district_code,
    count(distinct cc.f0_person_id) as f0_persons,
    count(distinct cc.candidate_person_key) as candidates,
    count(*) as exposures
from derived.contact_candidate as cc
left join core.venue as v on cc.venue_code = v.venue_code
group by
    cc.rule_set,
    (cc.candidate_scanned_at at time zone 'Asia/Ho_Chi_Minh')::date,
    coalesce(v.district_code, 'unknown');
