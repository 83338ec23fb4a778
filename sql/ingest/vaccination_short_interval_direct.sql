-- quarantine.row_problem: short_dose_interval warnings for one vaccinations file read straight into core
-- (issue 16, e10-direct): vaccination_short_interval.sql, with the file's rows free of errors partly in core
-- already (source_file_id = file_id: its earlier load was taken back first) and partly in staging. A dose is
-- compared with the same person's previous dose number (earliest date reported) among the rows in core
-- (other files' and this file's) and this file's staged rows free of errors; never called for a file to be
-- held (the staging path takes it). The minimum is set by the previous dose's product within its primary
-- series, 28 days beyond it. Parameters: file_id.
insert into quarantine.row_problem (file_id, row_number, column_name, code, severity)
with earlier_doses as (
    select
        v.citizen_id,
        v.dose_number,
        v.vaccinated_on,
        v.vaccine_code
    from core.vaccination as v
    union all
    select
        s.citizen_id,
        s.dose_number,
        s.vaccinated_on,
        s.vaccine_code
    from staging.vaccination_loadable as s
    where s.file_id = %(file_id)s
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
    union all
    select
        v.source_row as row_number,
        v.citizen_id,
        v.dose_number,
        v.vaccinated_on
    from core.vaccination as v
    where v.source_file_id = %(file_id)s and v.dose_number between 2 and 4
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
