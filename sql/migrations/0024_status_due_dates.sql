-- Incremental status without whole-table passes (issue 19): the build's as_of is stored once per rule set
-- (derived.build_state.as_of), not stamped on every status row each day; each status row stores the next
-- instant its values can change by time alone (due_at), so that a build as of a later time recomputes only
-- the rows that fall due; counts without counting whole tables.

-- The as_of a status row was computed as of: the build's as_of for the rows it wrote; a row no build has
-- touched since keeps an earlier one (its values hold as of every as_of before its due_at). What the row
-- means as of is the build's: derived.status_as_of(rule_set), or coalesce(build_state.as_of, as_of) joined
-- by rule set (a row written by hand, with no build, has its own).
comment on column derived.health_status.as_of is 'The as_of of the build that computed this row; the status holds as of derived.status_as_of(rule_set) (the last build''s), until due_at.';

-- due_at: the earliest instant at or after the row's as_of where a clock of the contract can change the
-- row (a dose or test becoming visible, a dose 14 days old, 72 hours after a negative RT-PCR, a recovery,
-- 180 days after it, a candidate scan visible or 14 days old); null: none ahead. A function of the
-- person's records and the row's as_of alone, the same for an incremental build and a full rebuild.
alter table derived.health_status add column due_at timestamptz;
comment on column derived.health_status.due_at is 'The earliest instant at or after as_of at which a time clock (14 days, 72 hours, recovery, 180 days, a record becoming visible) can change this row; null: none.';
create index health_status_due on derived.health_status (rule_set, due_at) where due_at is not null;

-- counts of the build's result read what they count, not the whole table
create index health_status_f0 on derived.health_status (rule_set) where f0;
create index identity_review_open on derived.identity_review (status) where status = 'open';

-- the candidate rows of a rule set, kept by each build from what it deleted and inserted
alter table derived.build_state add column candidates bigint;
comment on column derived.build_state.candidates is 'Rows of derived.contact_candidate under the rule set after its last build (kept from the changes, not counted).';

-- What a status row means as of: the as_of of the rule set's last build; for statuses written with no
-- build (by hand, in tests), the latest as_of of the rule set's rows.
create function derived.status_as_of(p_rule_set text) returns timestamptz
language sql stable as $$
    select coalesce(
        (select b.as_of from derived.build_state as b where b.rule_set = p_rule_set),
        (select max(h.as_of) from derived.health_status as h where h.rule_set = p_rule_set)
    )
$$;
comment on function derived.status_as_of(text) is 'The as_of the rule set''s statuses hold as of: its last build''s (derived.build_state), else the latest of its rows.';

-- The statuses built before this migration have no due dates: the next build of each rule set is a full one.
delete from derived.build_state;
