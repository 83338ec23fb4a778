-- mart.test_positivity: one row per district of the tested person, local day of sampling and test type.
-- Positivity counts positive / (positive + negative): an invalid result is neither. Rebuilt whole.
delete from mart.test_positivity;

insert into mart.test_positivity (
    province_code, district_code, day, test_type, tests, positive, negative, invalid, positivity_pct
)
select
    t.province_code,
    t.district_code,
    (t.sampled_at at time zone 'Asia/Ho_Chi_Minh')::date as day,
    t.test_type,
    count(*) as tests,
    count(*) filter (where t.result = 'positive') as positive,
    count(*) filter (where t.result = 'negative') as negative,
    count(*) filter (where t.result = 'invalid') as invalid,
    round(
        100.0 * count(*) filter (where t.result = 'positive')
        / nullif(count(*) filter (where t.result in ('positive', 'negative')), 0),
        2
    ) as positivity_pct
from core.test_result as t
group by t.province_code, t.district_code, (t.sampled_at at time zone 'Asia/Ho_Chi_Minh')::date, t.test_type;
