-- The facilities to alert about for one local day (read from mart.facility_reporting_day, refreshed first):
-- one row per facility and kind. 'not_reported': expected and nothing arrived by the cut-off.
-- 'volume_anomaly': rows sent that day outside [low, high] times the median of its reporting days among the 28
-- before, when it reported on at least min_history of them. Parameters: day, low, high, min_history.
with today as (
    select
        facility_code,
        on_time,
        received,
        rows_total
    from mart.facility_reporting_day
    where day = %(day)s::date and expected = 1
),

history as (
    select
        r.facility_code,
        count(*) as reporting_days,
        percentile_cont(0.5) within group (order by r.rows_total) as median_rows
    from mart.facility_reporting_day as r
    where
        r.day >= %(day)s::date - 28
        and r.day < %(day)s::date
        and r.received = 1
    group by r.facility_code
)

select
    t.facility_code,
    'not_reported' as kind,
    t.received,
    t.rows_total,
    h.median_rows
from today as t
left join history as h on t.facility_code = h.facility_code
where t.on_time = 0
union all
select
    t.facility_code,
    'volume_anomaly' as kind,
    t.received,
    t.rows_total,
    h.median_rows
from today as t
inner join history as h on t.facility_code = h.facility_code
where
    t.received = 1
    and h.reporting_days >= %(min_history)s
    and (t.rows_total < %(low)s * h.median_rows or t.rows_total > %(high)s * h.median_rows)
order by facility_code, kind;
