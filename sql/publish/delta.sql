-- One page of an app's delta from release since_release_id to release release_id: one row per person touched
-- by a published release in between (every person of release_id when since_release_id is 0), in citizen_id
-- order after the cursor, with the person's row in release_id (the columns of the app's view but release_id and
-- as_of, in the canonical text of dates and times; the columns other apps' views show are left null), or only
-- the citizen_id: a tombstone. One file for every app (covidsync.publish.CONSUMERS): the app chooses the columns.
-- Parameters: app, release_id, since_release_id, after, page_size.
with touched as (
    select distinct v.citizen_id
    from publish.release_version as v
    inner join publish.release_meta as m on v.valid_from = m.release_id
    where
        %(since_release_id)s > 0
        and m.published_at is not null
        and v.valid_from > %(since_release_id)s
        and v.valid_from <= %(release_id)s
        and v.citizen_id > %(after)s
    union all
    select v.citizen_id
    from publish.release_version as v
    where
        %(since_release_id)s = 0
        and v.valid_from <= %(release_id)s
        and (v.valid_to is null or v.valid_to > %(release_id)s)
        and v.citizen_id > %(after)s
)

select
    t.citizen_id,
    r.citizen_id is not null as present,
    case when %(app)s = 'pccovid' then r.phone end as phone,
    r.doses,
    to_char(r.last_dose_on, 'YYYY-MM-DD') as last_dose_on,
    r.last_dose_product,
    r.fully_vaccinated,
    r.card_colour,
    r.latest_test_type,
    r.latest_test_result,
    to_char(r.latest_test_sampled_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as latest_test_sampled_at,
    r.f0,
    case when %(app)s = 'pccovid' then r.contact_candidate end as contact_candidate,
    case when %(app)s in ('vneid', 'sskdt') then r.full_name end as full_name,
    case when %(app)s in ('vneid', 'sskdt') then to_char(r.date_of_birth, 'YYYY-MM-DD') end as date_of_birth,
    case %(app)s
        when 'vneid' then r.vaccination_certificate
        when 'sskdt' then r.sskdt_certificate
    end as vaccination_certificate,
    case when %(app)s = 'sskdt' then r.test_history end as test_history,
    case when %(app)s = 'sskdt' then to_char(r.recovered_on, 'YYYY-MM-DD') end as recovered_on,
    case when %(app)s = 'sskdt' then r.arrival_measure end as arrival_measure,
    case when %(app)s = 'sskdt' then to_char(r.arrival_measure_ends_on, 'YYYY-MM-DD') end as arrival_measure_ends_on
from touched as t
left join publish.release_version as r
    on
        t.citizen_id = r.citizen_id
        and r.valid_from <= %(release_id)s
        and (r.valid_to is null or r.valid_to > %(release_id)s)
order by t.citizen_id
limit %(page_size)s;
