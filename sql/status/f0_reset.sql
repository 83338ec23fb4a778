-- f0_reset (temporary, emptied each round): the F0s by contact (path antigen_contact) that may have lost what made them F0: those
-- of reset_seed, and, recursively, every F0 by contact who is a contact candidate of one of them. Their
-- episodes and the candidates they gave are deleted, so that they are found again from the F0s that need no
-- candidate, as a full build finds them: two such F0s who are each other's candidates cannot keep each other
-- F0. The persons whose candidacy went with them are added to pending and touched (build.py).
truncate f0_reset, f0_reset_candidate;

insert into f0_reset (person_id)
with recursive dependent as (
    select e.person_id
    from reset_seed as s
    inner join derived.f0_episode as e on s.person_id = e.person_id
    where e.rule_set = %(rule_set)s and e.path = 'antigen_contact'
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
    where rule_set = %(rule_set)s and f0_person_id in (select r.person_id from f0_reset as r)
    returning candidate_person_id
)

insert into f0_reset_candidate (person_id)
select distinct g.candidate_person_id as person_id
from gone as g
where g.candidate_person_id is not null
union
select r.person_id
from f0_reset as r;
