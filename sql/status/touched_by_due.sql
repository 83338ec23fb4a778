-- touched (temporary), for an incremental build whose as_of moved forward to hi: the persons whose status
-- row fell due (derived.health_status.due_at: the first instant at or after the row's as_of where a time
-- clock can change it; health_status.sql). One index range on (rule_set, due_at): the rows that can change,
-- none of the others. (A move back to an earlier as_of reads the records' clocks instead: touched_by_time.sql.)
insert into touched (person_id)
select h.person_id
from derived.health_status as h
where h.rule_set = %(rule_set)s and h.due_at <= %(hi)s::timestamptz
on conflict do nothing;
