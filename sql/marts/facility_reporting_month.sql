-- mart.facility_reporting_month: one row per facility and month, from mart.facility_reporting_day (run after
-- it). Grade: A when completeness >= 95 pct, timeliness >= 90 pct and rejection rate < 2 pct; B when >= 80, >= 70
-- and < 5 pct; C when completeness >= 60 pct; D otherwise. Rebuilt whole.
delete from mart.facility_reporting_month;

insert into mart.facility_reporting_month (
    facility_code, month, expected, received, on_time, completeness_pct, timeliness_pct,
    rows_total, rows_rejected, rejection_rate, grade
)
with month as (
    select
        facility_code,
        date_trunc('month', day)::date as month,
        sum(expected) as expected,
        sum(received) as received,
        sum(on_time) as on_time,
        sum(rows_total) as rows_total,
        sum(rows_rejected) as rows_rejected
    from mart.facility_reporting_day
    group by facility_code, date_trunc('month', day)::date
),

scored as (
    select
        m.*,
        round(100.0 * m.received / m.expected, 2) as completeness_pct,
        round(100.0 * m.on_time / m.expected, 2) as timeliness_pct,
        round(m.rows_rejected::numeric / nullif(m.rows_total, 0), 4) as rejection_rate
    from month as m
)

select
    facility_code,
    month,
    expected,
    received,
    on_time,
    completeness_pct,
    timeliness_pct,
    rows_total,
    rows_rejected,
    rejection_rate,
    case
        when completeness_pct >= 95 and timeliness_pct >= 90 and coalesce(rejection_rate, 0) < 0.02 then 'A'
        when completeness_pct >= 80 and timeliness_pct >= 70 and coalesce(rejection_rate, 0) < 0.05 then 'B'
        when completeness_pct >= 60 then 'C'
        else 'D'
    end as grade
from scored;
