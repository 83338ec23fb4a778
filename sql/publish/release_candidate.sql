-- The published rows of the persons in scope (those of the temporary table publish_scope with a CCCD and a status
-- under the rule set; every person on a first release), as of the release's as_of: the values, the VNeID
-- certificate from the deduplicated doses given on or before the as_of day, the SHA-256 of the row's canonical
-- line (every published field but release_id and as_of; docs/sync-api.md, "hashes"), the canonical texts of the
-- list fields (for the view hashes), and the earliest as_of at which time alone may change the row.
-- For the Sổ SKĐT view (contract §7) the row also holds each dose's lot number (from the core record behind the
-- dose), the tests sampled in the 90 days before as_of (newest first, at most 20; a positive pooled tube is the
-- member's `pooled_positive`), the end of the latest F0 episode when it ended within 180 days before as_of, and
-- the arrival measure in force with its last day (derived.person_arrival_measure's rule, at this as_of).
-- Parameters: rule_set, as_of, with_sskdt (false: leave the Sổ SKĐT columns empty; the benchmark measures
-- the view's cost that way).
with param as (
    select
        %(as_of)s::timestamptz as as_of,
        (%(as_of)s::timestamptz at time zone 'Asia/Ho_Chi_Minh')::date as as_of_day,
        %(with_sskdt)s::boolean as with_sskdt
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
        case when hs.recovered_on >= pa.as_of_day - 180 then hs.recovered_on end as recovered_on
    from derived.health_status as hs
    inner join derived.person as p on hs.person_id = p.person_id
    cross join param as pa
    where
        hs.rule_set = %(rule_set)s
        and p.citizen_id is not null
        and hs.person_id in (select sc.person_id from publish_scope as sc)
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
        ) filter (where d.vaccinated_on < pa.as_of_day + 1) as doses,
        string_agg(
            concat_ws(':', d.dose_number, to_char(d.vaccinated_on, 'YYYY-MM-DD'), vp.name, d.facility_code),
            ';' order by d.dose_number
        ) filter (where d.vaccinated_on < pa.as_of_day + 1) as line,
        jsonb_agg(
            jsonb_build_object(
                'dose', d.dose_number,
                'on', to_char(d.vaccinated_on, 'YYYY-MM-DD'),
                'product', vp.name,
                'facility_code', d.facility_code,
                'lot_number', v.lot_number
            )
            order by d.dose_number
        ) filter (where pa.with_sskdt and d.vaccinated_on < pa.as_of_day + 1) as sskdt_doses,
        string_agg(
            concat_ws(
                ':',
                d.dose_number,
                to_char(d.vaccinated_on, 'YYYY-MM-DD'),
                vp.name,
                d.facility_code,
                coalesce(v.lot_number, '\N')
            ),
            ';' order by d.dose_number
        ) filter (where pa.with_sskdt and d.vaccinated_on < pa.as_of_day + 1) as sskdt_line,
        string_agg(coalesce(v.lot_number, '\N'), ';' order by d.dose_number)
        filter (where d.vaccinated_on < pa.as_of_day + 1) as lot_line,
        min(d.vaccinated_on) filter (where d.vaccinated_on >= pa.as_of_day + 1) as next_dose_on
    from derived.vaccination_dose as d
    inner join core.vaccine_product as vp on d.product_code = vp.product_code
    inner join status as s on d.person_id = s.person_id
    cross join param as pa
    left join core.vaccination as v on d.vaccination_id = v.vaccination_id and pa.with_sskdt
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
        and t.sampled_at < pa.as_of
        and t.sampled_at >= pa.as_of - interval '90 days'
    order by pr.person_id asc, t.sample_id asc, t.test_type asc, t.resulted_at desc, t.test_result_id desc
),

-- when time alone changes the history: its oldest test leaves the 90 days, or a test sampled after as_of enters
test_time as (
    select
        pr.person_id,
        min(t.sampled_at) filter (where t.sampled_at < pa.as_of) + interval '90 days' as oldest_leaves_at,
        min(t.sampled_at) filter (where t.sampled_at >= pa.as_of) as next_enters_at
    from derived.person_record as pr
    inner join status as s on pr.person_id = s.person_id
    inner join core.test_result as t on pr.record_id = t.test_result_id
    cross join param as pa
    where
        pa.with_sskdt
        and pr.source = 'test_result'
        and t.sampled_at >= pa.as_of - interval '90 days'
    group by pr.person_id
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

-- the arrival measure in force (contract §7, arrivals.md §2): the person's latest arrival whose measure has not
-- ended by the local as_of day, the rule of the view derived.person_arrival_measure but at the release's as_of
-- (not the last arrivals build's), so that the row's expiry below holds whatever built the arrivals last
measure as (
    select distinct on (a.person_id)
        a.person_id,
        a.measure,
        a.ends_on
    from derived.arrival as a
    inner join status as s on a.person_id = s.person_id
    cross join param as pa
    where
        pa.with_sskdt
        and a.rule_set = %(rule_set)s
        and a.ends_on >= pa.as_of_day
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
    s.person_id,
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
    coalesce(c.doses, '[]'::jsonb) as vaccination_certificate,
    coalesce(c.sskdt_doses, '[]'::jsonb) as sskdt_certificate,
    coalesce(h.tests, '[]'::jsonb) as test_history,
    s.recovered_on,
    m.measure as arrival_measure,
    m.ends_on as arrival_measure_ends_on,
    coalesce(c.line, '') as certificate_text,
    coalesce(c.sskdt_line, '') as sskdt_certificate_text,
    coalesce(h.line, '') as test_history_text,
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
                    -- only with a measure in force (concat_ws skips a null): a row without one hashes as before
                    m.measure || E'\t' || to_char(m.ends_on, 'YYYY-MM-DD')
                ),
                'UTF8'
            )
        ),
        'hex'
    ) as row_sha256,
    least(
        tt.oldest_leaves_at,
        tt.next_enters_at,
        c.next_dose_on::timestamp at time zone 'Asia/Ho_Chi_Minh',
        (s.recovered_on + 181)::timestamp at time zone 'Asia/Ho_Chi_Minh',
        -- the measure ends: from the day after its last day the row shows the next one in force, or none
        (m.ends_on + 1)::timestamp at time zone 'Asia/Ho_Chi_Minh'
    ) as expires_at
from status as s
left join certificate as c on s.person_id = c.person_id
left join history as h on s.person_id = h.person_id
left join measure as m on s.person_id = m.person_id
left join test_time as tt on s.person_id = tt.person_id;
