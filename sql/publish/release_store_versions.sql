-- Store a release's changes (publish_diff) as versions: the open versions of the changed CCCDs close at this
-- release, found by their key (a probe of the primary key each, not a join over every version), and every change
-- opens one (a removal opens and closes at once: a tombstone). Inserted in citizen_id order: the
-- primary key (citizen_id, valid_from) grows at its right edge instead of splitting pages all over, and the heap
-- comes in the order the release's hash pass reads it. The lists' canonical texts are not stored
-- (null): the view hashes read the lines' hashes (line_sha256, migration 0035), and nothing else reads them.
-- Parameters: release_id.
update publish.release_version as v set valid_to = %(release_id)s
where
    v.valid_to is null
    -- an array, not a join: the primary key is probed for each CCCD, whatever the planner guesses of a table
    -- the first release filled (it read and sorted every version to join them)
    and v.citizen_id = any(array(
        select d.citizen_id from publish_diff as d
        where d.change <> 'added'
    ));

insert into publish.release_version (
    citizen_id, valid_from, valid_to, change, person_id, phone, doses, last_dose_on,
    last_dose_product, fully_vaccinated, card_colour, latest_test_type, latest_test_result,
    latest_test_sampled_at, f0, contact_candidate, full_name, date_of_birth, vaccination_certificate,
    sskdt_certificate, test_history, recovered_on, arrival_measure, arrival_measure_ends_on,
    row_sha256, expires_at, line_sha256
)
select
    citizen_id,
    %(release_id)s,
    case when change = 'removed' then %(release_id)s end,
    change,
    person_id,
    phone,
    doses,
    last_dose_on,
    last_dose_product,
    fully_vaccinated,
    card_colour,
    latest_test_type,
    latest_test_result,
    latest_test_sampled_at,
    f0,
    contact_candidate,
    full_name,
    date_of_birth,
    vaccination_certificate,
    sskdt_certificate,
    test_history,
    recovered_on,
    arrival_measure,
    arrival_measure_ends_on,
    row_sha256,
    expires_at,
    line_sha256
from publish_diff
order by citizen_id;
