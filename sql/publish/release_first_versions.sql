-- A first release (no version stored at all, no release current or held): every candidate row (publish_candidate,
-- every person's) is added, so there is nothing to compare and no changes' table to fill: the rows go straight
-- into their versions, one write of every row instead of two. In citizen_id order, as
-- release_store_versions.sql inserts them; like it, without the lists' canonical texts (line_sha256 holds their
-- lines' hashes, all the view hashes read). The order is the heap's and the primary key's fill order only (every
-- reader orders by citizen_id itself): by its bytes (collate "C", the same order for the CCCD's digits), which the
-- sort compares by abbreviated keys, not a library collation's comparison per pair of 900,000 wide rows.
-- Parameters: release_id.
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
    null,
    'added',
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
from publish_candidate
order by citizen_id collate "C";
