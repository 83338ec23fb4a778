-- derived.identity_review: one row per identity conflict the rules left to a person, rebuilt each run
-- (review_key is stable: the conflict kind and its subject identifier). An item whose subject has
-- decisions on some of its candidates but still more than one left stays open. An incremental build rebuilds
-- the items whose subject is in identity_scope.
delete from derived.identity_review as r
where
    %(everyone)s
    or exists (
        select 1 from identity_scope as s
        where r.subject_kind = s.kind and r.subject_value = s.value
    );

insert into derived.identity_review (review_key, kind, subject_kind, subject_value, candidates, status)
select
    md5(c.conflict_kind || ':' || c.kind || ':' || c.value),
    c.conflict_kind,
    c.kind,
    c.value,
    to_jsonb(c.candidates),
    'open'
from identity_conflict as c
union all
select
    md5('birth_date_conflict:' || b.kind || ':' || b.value),
    'birth_date_conflict',
    b.kind,
    b.value,
    to_jsonb(array(select 'dob:' || d from unnest(b.dates) as d)),
    'open'
from identity_birth_date as b;
