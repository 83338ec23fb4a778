-- derived.vaccination_dose for the persons in touched: one row per person and dose number, the records of
-- every facility deduplicated (contract §2: the earliest vaccinated_on wins; then the lowest record id),
-- doses given on or before the as_of day only; reported_by counts the records behind the dose.
-- Only the rows that differ are written (issue 19): most touched persons' doses are what they were (a new
-- test, a clock falling due), and a rewrite of theirs cost the delete, the insert, its foreign-key checks and
-- the publish triggers' notes for nothing. A row that changes is deleted and inserted again.
create temp table dose_new on commit drop as
select distinct on (r.person_id, v.dose_number)
    r.person_id,
    v.dose_number,
    v.vaccinated_on,
    v.vaccine_code as product_code,
    v.facility_code,
    v.vaccination_id,
    count(*) over (partition by r.person_id, v.dose_number)::integer as reported_by
from touched as t
inner join derived.person_record as r on t.person_id = r.person_id and r.source = 'vaccination'
inner join core.vaccination as v on r.record_id = v.vaccination_id
where v.vaccinated_on < (%(as_of)s::timestamptz at time zone 'Asia/Ho_Chi_Minh')::date
order by r.person_id, v.dose_number, v.vaccinated_on, v.vaccination_id;

create unique index on dose_new (person_id, dose_number);
analyze dose_new;

delete from derived.vaccination_dose as d
where
    d.person_id in (select t.person_id from touched as t)
    and not exists (
        select 1 from dose_new as n
        where
            n.person_id = d.person_id
            and n.dose_number = d.dose_number
            and n.vaccinated_on = d.vaccinated_on
            and n.product_code = d.product_code
            and n.facility_code = d.facility_code
            and n.vaccination_id = d.vaccination_id
            and n.reported_by = d.reported_by
    );

insert into derived.vaccination_dose (
    person_id, dose_number, vaccinated_on, product_code, facility_code, vaccination_id, reported_by
)
select
    n.person_id,
    n.dose_number,
    n.vaccinated_on,
    n.product_code,
    n.facility_code,
    n.vaccination_id,
    n.reported_by
from dose_new as n
-- the rows left with this person and dose number are equal to the new ones (the others were deleted above);
-- no anti-join against the table being inserted into (it would read its own new pages: quadratic)
on conflict (person_id, dose_number) do nothing;
