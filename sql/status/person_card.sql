-- The cards (derived.person_card's columns) of the persons in the temporary table card_scope, as of as_of: the
-- VNeID certificate from the deduplicated doses given on or before the as_of day, the Sổ SKĐT certificate (each
-- dose also with the lot number of the core record behind it), the tests sampled in the 90 days before as_of
-- (newest first, at most 20; a positive pooled tube is the member's `pooled_positive`), the canonical texts of
-- those lists (docs/sync-api.md, "hashes"), and when time alone changes them: a dose dated after the as_of day,
-- a test leaving the 90 days or one sampled later entering. One row per person with something to show or to
-- wait for; a person without a row has empty lists and no expiry.
-- Read by the status build (covidsync.status.cards, into derived.person_card) and by a release for the persons
-- whose stored card does not hold at its as_of (sql/publish/release_candidate.sql reads both).
-- Parameters: as_of.
with param as (
    select
        %(as_of)s::timestamptz as as_of,
        (%(as_of)s::timestamptz at time zone 'Asia/Ho_Chi_Minh')::date as as_of_day
),

dose as (
    select
        d.person_id,
        d.dose_number,
        d.vaccinated_on,
        d.vaccinated_on < pa.as_of_day + 1 as shown,
        to_char(d.vaccinated_on, 'YYYY-MM-DD') as on_text,
        vp.name as product,
        d.facility_code,
        v.lot_number
    from card_scope as s
    inner join derived.vaccination_dose as d on s.person_id = d.person_id
    inner join core.vaccine_product as vp on d.product_code = vp.product_code
    cross join param as pa
    left join core.vaccination as v on d.vaccination_id = v.vaccination_id
),

-- the aggregates take each person's doses in the order of the sorted subquery (dose_number): one sort, not one per
-- person and aggregate (an ORDER BY inside each of these aggregates cost most of the statement)
certificate as (
    select
        person_id,
        jsonb_agg(
            jsonb_build_object('dose', dose_number, 'on', on_text, 'product', product, 'facility_code', facility_code)
        ) filter (where shown) as doses,
        string_agg(concat_ws(':', dose_number, on_text, product, facility_code), ';') filter (where shown) as line,
        jsonb_agg(
            jsonb_build_object(
                'dose', dose_number,
                'on', on_text,
                'product', product,
                'facility_code', facility_code,
                'lot_number', lot_number
            )
        ) filter (where shown) as sskdt_doses,
        string_agg(
            concat_ws(':', dose_number, on_text, product, facility_code, coalesce(lot_number, '\N')), ';'
        ) filter (where shown) as sskdt_line,
        string_agg(coalesce(lot_number, '\N'), ';') filter (where shown) as lot_line,
        count(*) filter (where shown) as doses_shown,
        min(vaccinated_on) filter (where not shown) as next_dose_on
    from (
        select * from dose
        order by person_id, dose_number
    ) as sorted_dose
    group by person_id
),

record as (
    select
        pr.person_id,
        t.test_result_id,
        t.sample_id,
        t.test_type,
        t.sampled_at,
        t.resulted_at,
        t.result,
        t.pooled,
        t.facility_code
    from card_scope as s
    inner join derived.person_record as pr on s.person_id = pr.person_id and pr.source = 'test_result'
    inner join core.test_result as t on pr.record_id = t.test_result_id
    cross join param as pa
    where t.sampled_at >= pa.as_of - interval '90 days'
),

test as (
    select distinct on (r.person_id, r.sample_id, r.test_type)
        r.person_id,
        r.test_type,
        r.sampled_at,
        case when r.pooled and r.result = 'positive' then 'pooled_positive' else r.result end as result,
        r.pooled,
        r.facility_code,
        r.test_result_id
    from record as r
    cross join param as pa
    where r.sampled_at < pa.as_of
    order by r.person_id asc, r.sample_id asc, r.test_type asc, r.resulted_at desc, r.test_result_id desc
),

-- when time alone changes the history: its oldest test leaves the 90 days, or a test sampled after as_of enters
test_time as (
    select
        r.person_id,
        least(
            min(r.sampled_at) filter (where r.sampled_at < pa.as_of) + interval '90 days',
            min(r.sampled_at) filter (where r.sampled_at >= pa.as_of)
        ) as expires_at
    from record as r
    cross join param as pa
    group by r.person_id
),

test_ranked as (
    select
        test.*,
        to_char(test.sampled_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as sampled_text,
        row_number() over (
            partition by test.person_id
            order by test.sampled_at desc, (test.test_type = 'RT-PCR') desc, test.test_result_id desc
        ) as n
    from test
),

history as (
    select
        person_id,
        jsonb_agg(
            jsonb_build_object(
                'type', test_type,
                'sampled_at', sampled_text,
                'result', result,
                'pooled', pooled,
                'facility_code', facility_code
            )
        ) as tests,
        string_agg(concat_ws(':', test_type, sampled_text, result, pooled::text, facility_code), ';') as line
    from (  -- in order, as above
        select * from test_ranked
        where n <= 20
        order by person_id, n
    ) as newest
    group by person_id
),

card as (
    select
        coalesce(c.person_id, tt.person_id) as person_id,
        coalesce(c.doses, '[]'::jsonb) as vaccination_certificate,
        coalesce(c.line, '') as certificate_text,
        coalesce(c.sskdt_doses, '[]'::jsonb) as sskdt_certificate,
        coalesce(c.sskdt_line, '') as sskdt_certificate_text,
        coalesce(c.lot_line, '') as lot_line,
        coalesce(c.doses_shown, 0)::integer as doses_shown,
        coalesce(h.tests, '[]'::jsonb) as test_history,
        coalesce(h.line, '') as test_history_text,
        c.next_dose_on::timestamp at time zone 'Asia/Ho_Chi_Minh' as dose_expires_at,
        tt.expires_at as test_expires_at
    from certificate as c
    full outer join test_time as tt on c.person_id = tt.person_id
    left join history as h on coalesce(c.person_id, tt.person_id) = h.person_id
)

select
    person_id,
    vaccination_certificate,
    certificate_text,
    sskdt_certificate,
    sskdt_certificate_text,
    lot_line,
    doses_shown,
    test_history,
    test_history_text,
    dose_expires_at,
    test_expires_at,
    least(dose_expires_at, test_expires_at) as expires_at
from card
