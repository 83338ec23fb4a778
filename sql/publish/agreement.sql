-- One row: the agreement check of the two published views on the current release. A mismatch is a person
-- in one view and not the other, or whose shared status fields (release, doses, last dose and product,
-- fully vaccinated, card colour, latest test, F0, as_of) differ between the views; plus the number of
-- distinct releases each view shows (1 and 1 when sound).
with pairs as (
    select
        p.citizen_id as p_citizen_id,
        v.citizen_id as v_citizen_id,
        (
            p.release_id is not distinct from v.release_id
            and p.doses is not distinct from v.doses
            and p.last_dose_on is not distinct from v.last_dose_on
            and p.last_dose_product is not distinct from v.last_dose_product
            and p.fully_vaccinated is not distinct from v.fully_vaccinated
            and p.card_colour is not distinct from v.card_colour
            and p.latest_test_type is not distinct from v.latest_test_type
            and p.latest_test_result is not distinct from v.latest_test_result
            and p.latest_test_sampled_at is not distinct from v.latest_test_sampled_at
            and p.f0 is not distinct from v.f0
            and p.as_of is not distinct from v.as_of
        ) as same
    from publish.pccovid_health_status as p
    full outer join publish.vneid_health_status as v on p.citizen_id = v.citizen_id
)

select
    count(*) as persons,
    count(*) filter (where p_citizen_id is null or v_citizen_id is null or not same) as mismatches,
    (select count(distinct pc.release_id) from publish.pccovid_health_status as pc) as pccovid_releases,
    (select count(distinct vn.release_id) from publish.vneid_health_status as vn) as vneid_releases
from pairs;
