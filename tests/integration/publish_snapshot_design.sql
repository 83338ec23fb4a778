-- The snapshot design of a release (sql/publish/release_row.sql before issue 19, unchanged but for its target:
-- the temporary table snapshot_row): every published row, recomputed from derived, with its row hash.
-- The test of publish by change compares a release's content hash with this one's.
insert into snapshot_row (
    release_id, citizen_id, phone, doses, last_dose_on, last_dose_product, fully_vaccinated, card_colour,
    latest_test_type, latest_test_result, latest_test_sampled_at, f0, contact_candidate, full_name,
    date_of_birth, vaccination_certificate, sskdt_certificate, test_history, recovered_on, arrival_measure,
    arrival_measure_ends_on, row_sha256
)
with param as (
    select %(with_sskdt)s::boolean as with_sskdt
),

status as (
    select
        p.person_id,
        p.citizen_id,
        p.phone,
        p.full_name,
        p.date_of_birth,
        hs.doses,
        hs.last_dose_on,
        hs.last_dose_product,
        hs.fully_vaccinated,
        hs.card_colour,
        hs.latest_test_type,
        hs.latest_test_result,
        hs.latest_test_sampled_at,
        hs.f0,
        hs.contact_candidate,
        coalesce(b.as_of, hs.as_of) as as_of,
        (coalesce(b.as_of, hs.as_of) at time zone 'Asia/Ho_Chi_Minh')::date as as_of_day,
        case
            when hs.recovered_on >= (coalesce(b.as_of, hs.as_of) at time zone 'Asia/Ho_Chi_Minh')::date - 180
                then hs.recovered_on
        end as recovered_on
    from derived.health_status as hs
    inner join derived.person as p on hs.person_id = p.person_id
    -- the build's as_of (a status row keeps the one it was computed as of until it falls due; issue 19)
    left join derived.build_state as b on hs.rule_set = b.rule_set
    where hs.rule_set = %(rule_set)s and p.citizen_id is not null
),

certificate as (
    select
        d.person_id,
        jsonb_agg(
            jsonb_build_object(
                'dose', d.dose_number,
                'on', to_char(d.vaccinated_on, 'YYYY-MM-DD'),
                'product', vp.name,
                'facility_code', d.facility_code
            )
            order by d.dose_number
        ) as doses,
        string_agg(
            concat_ws(':', d.dose_number, to_char(d.vaccinated_on, 'YYYY-MM-DD'), vp.name, d.facility_code),
            ';' order by d.dose_number
        ) as line,
        jsonb_agg(
            jsonb_build_object(
                'dose', d.dose_number,
                'on', to_char(d.vaccinated_on, 'YYYY-MM-DD'),
                'product', vp.name,
                'facility_code', d.facility_code,
                'lot_number', v.lot_number
            )
            order by d.dose_number
        ) filter (where pa.with_sskdt) as sskdt_doses,
        string_agg(coalesce(v.lot_number, '\N'), ';' order by d.dose_number) as lot_line
    from derived.vaccination_dose as d
    inner join core.vaccine_product as vp on d.product_code = vp.product_code
    inner join status as s on d.person_id = s.person_id
    cross join param as pa
    left join core.vaccination as v on d.vaccination_id = v.vaccination_id and pa.with_sskdt
    where d.vaccinated_on < s.as_of_day + 1
    group by d.person_id
),

test as (
    select distinct on (pr.person_id, t.sample_id, t.test_type)
        pr.person_id,
        t.test_type,
        t.sampled_at,
        case when t.pooled and t.result = 'positive' then 'pooled_positive' else t.result end as result,
        t.pooled,
        t.facility_code,
        t.test_result_id
    from derived.person_record as pr
    inner join status as s on pr.person_id = s.person_id
    inner join core.test_result as t on pr.record_id = t.test_result_id
    cross join param as pa
    where
        pa.with_sskdt
        and pr.source = 'test_result'
        and t.sampled_at < s.as_of
        and t.sampled_at >= s.as_of - interval '90 days'
    order by pr.person_id asc, t.sample_id asc, t.test_type asc, t.resulted_at desc, t.test_result_id desc
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

-- the arrival measure in force (0028): the latest arrival whose measure has not ended by the as_of day
measure as (
    select distinct on (a.person_id)
        a.person_id,
        a.measure,
        a.ends_on
    from derived.arrival as a
    inner join status as s on a.person_id = s.person_id
    cross join param as pa
    where pa.with_sskdt and a.rule_set = %(rule_set)s and a.ends_on >= s.as_of_day
    order by a.person_id asc, a.arrived_at desc
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
            order by n
        ) as tests,
        string_agg(
            concat_ws(':', test_type, sampled_text, result, pooled::text, facility_code), ';' order by n
        ) as line
    from test_ranked
    where n <= 20
    group by person_id
)

select
    %(release_id)s,
    s.citizen_id,
    s.phone,
    s.doses,
    s.last_dose_on,
    s.last_dose_product,
    s.fully_vaccinated,
    s.card_colour,
    s.latest_test_type,
    s.latest_test_result,
    s.latest_test_sampled_at,
    s.f0,
    s.contact_candidate,
    s.full_name,
    s.date_of_birth,
    coalesce(c.doses, '[]'::jsonb),
    coalesce(c.sskdt_doses, '[]'::jsonb),
    coalesce(h.tests, '[]'::jsonb),
    s.recovered_on,
    m.measure,
    m.ends_on,
    encode(
        sha256(
            convert_to(
                concat_ws(
                    E'\t',
                    s.citizen_id,
                    coalesce(s.phone, '\N'),
                    s.doses::text,
                    coalesce(to_char(s.last_dose_on, 'YYYY-MM-DD'), '\N'),
                    coalesce(s.last_dose_product, '\N'),
                    s.fully_vaccinated::text,
                    s.card_colour,
                    coalesce(s.latest_test_type, '\N'),
                    coalesce(s.latest_test_result, '\N'),
                    coalesce(
                        to_char(s.latest_test_sampled_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), '\N'
                    ),
                    s.f0::text,
                    s.contact_candidate::text,
                    coalesce(s.full_name, '\N'),
                    coalesce(to_char(s.date_of_birth, 'YYYY-MM-DD'), '\N'),
                    coalesce(c.line, ''),
                    coalesce(c.lot_line, ''),
                    coalesce(h.line, ''),
                    coalesce(to_char(s.recovered_on, 'YYYY-MM-DD'), '\N'),
                    m.measure || E'\t' || to_char(m.ends_on, 'YYYY-MM-DD')
                ),
                'UTF8'
            )
        ),
        'hex'
    )
from status as s
left join certificate as c on s.person_id = c.person_id
left join history as h on s.person_id = h.person_id
left join measure as m on s.person_id = m.person_id;
