-- One page of the Sổ SKĐT delta from release since_release_id to release release_id: one row per person
-- touched by a published release in between (every person of release_id when since_release_id is 0), in
-- citizen_id order after the cursor, with the person's row in release_id (the columns of
-- publish.sskdt_health_status but release_id and as_of, in the canonical text of dates and times; the
-- certificate with each dose's lot number), or only the citizen_id: a tombstone.
-- Parameters: release_id, since_release_id, after, page_size.
with touched as (
    select distinct d.citizen_id
    from publish.release_delta as d
    inner join publish.release_meta as m on d.release_id = m.release_id
    where
        %(since_release_id)s > 0
        and m.published_at is not null
        and d.release_id > %(since_release_id)s
        and d.release_id <= %(release_id)s
    union
    select a.citizen_id
    from publish.release_row as a
    where %(since_release_id)s = 0 and a.release_id = %(release_id)s
)

select
    t.citizen_id,
    r.citizen_id is not null as present,
    r.doses,
    to_char(r.last_dose_on, 'YYYY-MM-DD') as last_dose_on,
    r.last_dose_product,
    r.fully_vaccinated,
    r.card_colour,
    r.latest_test_type,
    r.latest_test_result,
    to_char(r.latest_test_sampled_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as latest_test_sampled_at,
    r.f0,
    r.full_name,
    to_char(r.date_of_birth, 'YYYY-MM-DD') as date_of_birth,
    r.sskdt_certificate as vaccination_certificate,
    r.test_history,
    to_char(r.recovered_on, 'YYYY-MM-DD') as recovered_on,
    r.arrival_measure,
    to_char(r.arrival_measure_ends_on, 'YYYY-MM-DD') as arrival_measure_ends_on
from touched as t
left join publish.release_row as r on t.citizen_id = r.citizen_id and r.release_id = %(release_id)s
where t.citizen_id > %(after)s
order by t.citizen_id
limit %(page_size)s;
