-- When a view line the status build stored (derived.person_line, 0035) is known to hold, so that a first release
-- takes its row hash and its lines' hashes as stored instead of computing them again for every row (issue 19,
-- branch p12-first: the row hash and the line probes, about 3 s of a first release at 1M persons).
--
-- A line holds for a release when its inputs did not change since it was computed. Its inputs are the person's
-- status (derived.health_status), person row (derived.person), card (derived.person_card) and arrivals
-- (derived.arrival), and the release's as_of (a line holds from the as_of it was computed at until its
-- expires_at). The triggers below note every person whose status, person row or arrivals a statement wrote,
-- whoever wrote them, in derived.person_line_stale; a statement writing more than derived.line_note_limit()
-- persons, a truncation, or a write of derived.person_card by anyone but the card step (which computes the lines
-- of the cards it writes in the same transaction: covidsync.status.cards.build_cards) marks every line stale.
-- The card step's line step (covidsync.status.cards.build_lines) computes the noted persons' lines again and
-- takes their notes out before it computes (so a note committed after that stays), every line on a full step.
-- A release trusts a line only when: not all_stale, the release's rule set is the lines', its as_of is not
-- before the lines' as_of, the recipe (the candidate statement and publish.view_line_sha256) is the one the
-- lines were computed with, the line has not expired, the person is not noted, and the release did not compute
-- the person's card. Otherwise it computes the row hash and the lines as before.

create table derived.person_line_state (
    singleton boolean primary key default true check (singleton),
    rule_set text,
    as_of timestamptz,
    recipe text,
    all_stale boolean not null default true
);
comment on table derived.person_line_state is 'One row: the rule set, latest as_of and recipe of the lines of derived.person_line, and whether they are all stale (0082).';
comment on column derived.person_line_state.as_of is 'The latest as_of a line step computed lines at: a release as of an earlier instant trusts none.';
comment on column derived.person_line_state.recipe is 'md5 of the candidate statement and of publish.view_line_sha256 the lines were computed with.';
comment on column derived.person_line_state.all_stale is 'True: no stored line is trusted (a truncation, a statement over derived.line_note_limit() persons, a card written outside the card step, never computed).';
insert into derived.person_line_state default values;

create table derived.person_line_stale (
    person_id bigint primary key
);
comment on table derived.person_line_stale is 'One row per person whose line inputs (status, person row, arrivals) a statement wrote since the line was computed (0082).';

create function derived.line_note_limit() returns integer
language sql immutable as 'select 100000';

-- (when every line is stale already, the state row is still updated: its row lock keeps a line step from
-- declaring the lines fresh before this statement's transaction ends)
create function derived.note_line_persons() returns trigger
language plpgsql as $$
declare
    n bigint;
begin
    if (select all_stale from derived.person_line_state) then
        update derived.person_line_state set all_stale = true;
        return null;
    end if;
    if tg_op = 'INSERT' then
        select count(*) into n from new_rows;
    else
        select count(*) into n from old_rows;
    end if;
    if n > derived.line_note_limit() then
        update derived.person_line_state set all_stale = true;
    elsif tg_op = 'INSERT' then
        insert into derived.person_line_stale (person_id)
        select distinct person_id from new_rows where person_id is not null
        on conflict do nothing;
    elsif tg_op = 'DELETE' then
        insert into derived.person_line_stale (person_id)
        select distinct person_id from old_rows where person_id is not null
        on conflict do nothing;
    else
        insert into derived.person_line_stale (person_id)
        select person_id from old_rows where person_id is not null
        union
        select person_id from new_rows where person_id is not null
        on conflict do nothing;
    end if;
    return null;
end
$$;
comment on function derived.note_line_persons() is 'Notes in derived.person_line_stale the persons whose line inputs a statement wrote (0082).';

create function derived.note_line_all_stale() returns trigger
language plpgsql as $$
begin
    if tg_table_name = 'person_card' and current_setting('covidsync.card_step', true) = 'on' then
        return null;  -- the card step: its line step computes the lines of the cards it wrote
    end if;
    update derived.person_line_state set all_stale = true;
    return null;
end
$$;
comment on function derived.note_line_all_stale() is 'Marks every stored line stale (a truncation of a line input, a card written outside the card step; 0082).';

create trigger line_inserted after insert on derived.health_status
referencing new table as new_rows for each statement execute function derived.note_line_persons();
create trigger line_changed after update on derived.health_status
referencing old table as old_rows new table as new_rows for each statement execute function derived.note_line_persons();
create trigger line_deleted after delete on derived.health_status
referencing old table as old_rows for each statement execute function derived.note_line_persons();
create trigger line_truncated after truncate on derived.health_status
for each statement execute function derived.note_line_all_stale();

-- (no insert trigger: a person's line exists only while its person row did; a deleted row was noted)
create trigger line_changed after update on derived.person
referencing old table as old_rows new table as new_rows for each statement execute function derived.note_line_persons();
create trigger line_deleted after delete on derived.person
referencing old table as old_rows for each statement execute function derived.note_line_persons();
create trigger line_truncated after truncate on derived.person
for each statement execute function derived.note_line_all_stale();

create trigger line_inserted after insert on derived.arrival
referencing new table as new_rows for each statement execute function derived.note_line_persons();
create trigger line_changed after update on derived.arrival
referencing old table as old_rows new table as new_rows for each statement execute function derived.note_line_persons();
create trigger line_deleted after delete on derived.arrival
referencing old table as old_rows for each statement execute function derived.note_line_persons();
create trigger line_truncated after truncate on derived.arrival
for each statement execute function derived.note_line_all_stale();

create trigger line_written after insert or update or delete on derived.person_card
for each statement execute function derived.note_line_all_stale();
create trigger line_truncated after truncate on derived.person_card
for each statement execute function derived.note_line_all_stale();
