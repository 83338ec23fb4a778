-- quarantine.row_problem: short_dose_interval warnings for one staged vaccinations file. A dose is
-- compared with the same person's previous dose number (earliest date reported) among the rows already
-- in core (other files) and this file's rows free of errors, unless the file is to be held whole. The
-- minimum is set by the previous dose's product within its primary series, 28 days beyond it
-- (core.vaccine_product; covidsync.domain.vaccines.min_interval_days). Parameters: file_id, hold_batch.
insert into quarantine.row_problem (file_id, row_number, column_name, code, severity)
with clean_rows as (
    select
        s.citizen_id,
        s.dose_number,
        s.vaccinated_on,
        s.vaccine_code
    from staging.vaccination_loadable as s
    where s.file_id = %(file_id)s and not %(hold_batch)s
),

earlier_doses as (
    select
        v.citizen_id,
        v.dose_number,
        v.vaccinated_on,
        v.vaccine_code
    from core.vaccination as v
    where v.source_file_id <> %(file_id)s
    union all
    select
        c.citizen_id,
        c.dose_number,
        c.vaccinated_on,
        c.vaccine_code
    from clean_rows as c
),

candidates as (
    select
        s.row_number,
        s.citizen_id,
        s.dose_number,
        s.vaccinated_on
    from staging.vaccination as s
    where
        s.file_id = %(file_id)s
        and s.dose_number between 2 and 4
        and s.vaccinated_on is not null
        and s.citizen_id is not null
),

previous_dose as (
    select distinct on (c.row_number)
        c.row_number,
        c.dose_number,
        c.vaccinated_on - e.vaccinated_on as days_after,
        e.vaccine_code as previous_product
    from candidates as c
    inner join earlier_doses as e
        on c.citizen_id = e.citizen_id and e.dose_number = c.dose_number - 1
    order by c.row_number, e.vaccinated_on
)

select
    %(file_id)s,
    pd.row_number,
    'vaccinated_on' as column_name,
    'short_dose_interval' as code,
    'warning' as severity
from previous_dose as pd
inner join core.vaccine_product as vp on pd.previous_product = vp.product_code
where
    pd.days_after
    < case when pd.dose_number <= vp.primary_doses then vp.min_interval_days else 28 end
