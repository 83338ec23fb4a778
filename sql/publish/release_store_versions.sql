-- Store a release's changes (publish_diff) as versions: the open versions of the changed CCCDs close at this
-- release, found where the changes' statement read them (their ctid), and every change
-- opens one (a removal opens and closes at once: a tombstone). Inserted in citizen_id order: the
-- primary key (citizen_id, valid_from) grows at its right edge instead of splitting pages all over, and the heap
-- comes in the order the release's hash pass reads it. The lists' canonical texts are not stored
-- (null): the view hashes read the lines' hashes (line_sha256, migration 0035), and nothing else reads them.
-- Parameters: release_id.
with closed as (
    -- where the changes' statement found each replaced version (release_diff.sql: old_ctid), not found again by
    -- its key: a TID scan, no descent of the primary key nor bitmap of the versions (issue 19, branch p14-day)
    update publish.release_version as v set valid_to = %(release_id)s
    where
        v.valid_to is null
        and v.ctid = any(array(
            select d.old_ctid from publish_diff as d
            where d.change <> 'added'
        ))
    returning v.citizen_id
)

-- any replaced version that is no longer where the changes found it (a held candidate's undo, after them, wrote it
-- anew), by its key: an array, not a join, so that the primary key is probed for each CCCD whatever the planner
-- guesses of a table the first release filled (it read and sorted every version to join them)
update publish.release_version as v set valid_to = %(release_id)s
where
    v.valid_to is null
    and v.citizen_id = any(array(
        select d.citizen_id from publish_diff as d
        where d.change <> 'added'
        except
        select c.citizen_id from closed as c
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
