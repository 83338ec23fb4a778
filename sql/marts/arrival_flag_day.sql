-- mart.arrival_flag_day: per local day of submission up to as_of_day, the health declarations, those with a
-- symptom, those reporting close contact with an F0 (arrivals contract §2-§3). Counts only. Rebuilt whole.
-- Parameters: as_of_day.
delete from mart.arrival_flag_day;

insert into mart.arrival_flag_day (day, health_declarations, symptoms_reported, reported_contact_with_f0)
select
    (d.submitted_at at time zone 'Asia/Ho_Chi_Minh')::date,
    count(*),
    count(*) filter (where d.symptoms_reported),
    count(*) filter (where d.contact_with_f0)
from core.declaration as d
where d.kind = 'health' and (d.submitted_at at time zone 'Asia/Ho_Chi_Minh')::date <= %(as_of_day)s
group by 1;
