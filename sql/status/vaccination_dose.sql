-- derived.vaccination_dose for the persons in touched: one row per person and dose number, the records of
-- every facility deduplicated (contract §2: the earliest vaccinated_on wins; then the lowest record id),
-- doses given on or before the as_of day only; reported_by counts the records behind the dose.
delete from derived.vaccination_dose
where person_id in (select t.person_id from touched as t);

insert into derived.vaccination_dose (
    person_id, dose_number, vaccinated_on, product_code, facility_code, vaccination_id, reported_by
)
select distinct on (r.person_id, v.dose_number)
    r.person_id,
    v.dose_number,
    v.vaccinated_on,
    v.vaccine_code,
    v.facility_code,
    v.vaccination_id,
    count(*) over (partition by r.person_id, v.dose_number)
from touched as t
inner join derived.person_record as r on t.person_id = r.person_id and r.source = 'vaccination'
inner join core.vaccination as v on r.record_id = v.vaccination_id
where v.vaccinated_on < (%(as_of)s::timestamptz at time zone 'Asia/Ho_Chi_Minh')::date
order by r.person_id, v.dose_number, v.vaccinated_on, v.vaccination_id;
