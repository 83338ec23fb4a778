-- f0_reset (temporary), before the first round of a build: the F0s by contact (path antigen_contact) that
-- may lose what made them F0: those of reset_seed (the persons to recompute), those who are candidates of
-- one of them, and, recursively, every F0 by contact who is a candidate of one of those. Their episodes are
-- deleted, and the candidates they and the persons of reset_seed gave (all retraced: build.py), so that the
-- rounds find them again from the F0s that need no candidate, outwards, as a full build does: two F0s who
-- are each other's candidates cannot keep each other F0, and no round reads the candidates of an F0 whose
-- episode it is changing. f0_reset_row: the candidate rows deleted, which the first round's candidates are
-- compared with (only the persons whose candidacy really changed are touched).
truncate f0_reset, f0_reset_row;

insert into f0_reset (person_id)
with recursive dependent as (
    select e.person_id
    from reset_seed as s
    inner join derived.f0_episode as e on s.person_id = e.person_id
    where e.rule_set = %(rule_set)s and e.path = 'antigen_contact'
    union
    select e.person_id
    from reset_seed as s
    inner join derived.contact_candidate as c on s.person_id = c.f0_person_id
    inner join derived.f0_episode as e on c.candidate_person_id = e.person_id
    where c.rule_set = %(rule_set)s and e.rule_set = %(rule_set)s and e.path = 'antigen_contact'
    union
    select e.person_id
    from dependent as d
    inner join derived.contact_candidate as c on d.person_id = c.f0_person_id
    inner join derived.f0_episode as e on c.candidate_person_id = e.person_id
    where c.rule_set = %(rule_set)s and e.rule_set = %(rule_set)s and e.path = 'antigen_contact'
)

select distinct d.person_id
from dependent as d;

delete from derived.f0_episode
where rule_set = %(rule_set)s and person_id in (select r.person_id from f0_reset as r);

with gone as (
    delete from derived.contact_candidate
    where
        rule_set = %(rule_set)s
        and (
            f0_person_id in (select r.person_id from f0_reset as r)
            or f0_person_id in (select s.person_id from reset_seed as s)
        )
    returning candidate_person_id, f0_person_id, candidate_person_key, venue_code, f0_scanned_at, candidate_scanned_at
)

insert into f0_reset_row (
    candidate_person_id, f0_person_id, candidate_person_key, venue_code, f0_scanned_at, candidate_scanned_at
)
select
    g.candidate_person_id,
    g.f0_person_id,
    g.candidate_person_key,
    g.venue_code,
    g.f0_scanned_at,
    g.candidate_scanned_at
from gone as g;
