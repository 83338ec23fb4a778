-- quarantine.row_problem: short_dose_interval warnings for several staged vaccinations files of one group
-- (issue 16, many small files), as sql/ingest/vaccination_short_interval.sql does for one: each file's doses
-- against the rows in core of other files and its own rows free of errors (unless it is held whole), never
-- another file of the group's rows. Parameters: file_ids, held_ids (the files held whole).
insert into quarantine.row_problem (file_id, row_number, column_name, code, severity)
with candidates as (
    select
        s.file_id,
        s.row_number,
        s.citizen_id,
        s.dose_number,
        s.vaccinated_on
    from staging.vaccination as s
    where
        s.file_id = any(%(file_ids)s)
        and s.dose_number between 2 and 4
        and s.vaccinated_on is not null
        and s.citizen_id is not null
),

earlier_doses as (
    select
        c.file_id,
        c.row_number,
        c.dose_number,
        c.vaccinated_on - v.vaccinated_on as days_after,
        v.vaccinated_on as previous_on,
        v.vaccine_code as previous_product
    from candidates as c
    inner join core.vaccination as v
        on
            c.citizen_id = v.citizen_id
            and c.dose_number - 1 = v.dose_number
            and c.file_id <> v.source_file_id
    union all
    select
        c.file_id,
        c.row_number,
        c.dose_number,
        c.vaccinated_on - l.vaccinated_on as days_after,
        l.vaccinated_on as previous_on,
        l.vaccine_code as previous_product
    from candidates as c
    inner join staging.vaccination_loadable as l
        on
            c.file_id = l.file_id
            and c.citizen_id = l.citizen_id
            and c.dose_number - 1 = l.dose_number
    where l.file_id <> all(%(held_ids)s)
),

previous_dose as (
    select distinct on (e.file_id, e.row_number)
        e.file_id,
        e.row_number,
        e.dose_number,
        e.days_after,
        e.previous_product
    from earlier_doses as e
    order by e.file_id, e.row_number, e.previous_on
)

select
    pd.file_id,
    pd.row_number,
    'vaccinated_on' as column_name,
    'short_dose_interval' as code,
    'warning' as severity
from previous_dose as pd
inner join core.vaccine_product as vp on pd.previous_product = vp.product_code
where
    pd.days_after
    < case when pd.dose_number <= vp.primary_doses then vp.min_interval_days else 28 end
