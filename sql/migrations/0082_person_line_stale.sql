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

-- The columns of a status row a line reads (sql/publish/release_candidate.sql; status_shown_same's): a status
-- build rewrites a row (delete, then insert) when a clock moves its due_at, most often with the same values
-- shown, and such a row keeps its line (issue 19, branch s5-status). The deletion notes the person and keeps the
-- deleted rows' shown values in the transaction's temporary table line_rewrite; an insertion in the same
-- transaction that puts back exactly those values takes the note out again. Any other note of the person in
-- between (another write of its status, person row or arrivals) forgets the kept values, so the note stays.
-- (When every line is stale already, the state row is still updated: its row lock keeps a line step from
-- declaring the lines fresh before this statement's transaction ends.)
create function derived.note_line_persons() returns trigger
language plpgsql as $$
declare
    n bigint;
    kept boolean;
    put_back bigint [];
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
        return null;
    end if;
    kept := to_regclass('pg_temp.line_rewrite') is not null;
    if tg_table_name = 'health_status' and tg_op = 'DELETE' then
        create temporary table if not exists line_rewrite on commit drop as
        select
            person_id, rule_set, doses, last_dose_on, last_dose_product, fully_vaccinated, card_colour,
            latest_test_type, latest_test_result, latest_test_sampled_at, f0, contact_candidate, recovered_on
        from derived.health_status with no data;
        -- a person already noted (before, or by another write in between) keeps the note whatever follows
        delete from pg_temp.line_rewrite as w where w.person_id in (select o.person_id from old_rows as o);
        with noted as (
            insert into derived.person_line_stale (person_id)
            select distinct person_id from old_rows where person_id is not null
            on conflict do nothing
            returning person_id
        )
        insert into pg_temp.line_rewrite
        select
            o.person_id, o.rule_set, o.doses, o.last_dose_on, o.last_dose_product, o.fully_vaccinated,
            o.card_colour, o.latest_test_type, o.latest_test_result, o.latest_test_sampled_at, o.f0,
            o.contact_candidate, o.recovered_on
        from old_rows as o
        where o.person_id in (select noted.person_id from noted);
        return null;
    end if;
    if tg_table_name = 'health_status' and tg_op = 'INSERT' and kept then
        -- the persons whose inserted rows are exactly the rows their deletion kept (each way): un-noted
        with back as (
            select
                person_id, rule_set, doses, last_dose_on, last_dose_product, fully_vaccinated, card_colour,
                latest_test_type, latest_test_result, latest_test_sampled_at, f0, contact_candidate, recovered_on
            from new_rows
            where person_id in (select w.person_id from pg_temp.line_rewrite as w)
        ),
        differ as (
            (select * from back except select * from pg_temp.line_rewrite)
            union
            (
                select * from pg_temp.line_rewrite as w where w.person_id in (select b.person_id from back as b)
                except
                select * from back
            )
        )
        select coalesce(array_agg(distinct b.person_id), '{}') into put_back
        from back as b
        where not exists (select from differ as d where d.person_id = b.person_id);
        delete from derived.person_line_stale where person_id = any(put_back);
        delete from pg_temp.line_rewrite as w where w.person_id in (select b.person_id from new_rows as b);
        -- the others noted (a put-back row is not new)
        insert into derived.person_line_stale (person_id)
        select distinct b.person_id from new_rows as b
        where
            b.person_id is not null
            and not exists (select from unnest(put_back) as u (person_id) where u.person_id = b.person_id)
        on conflict do nothing;
        return null;
    end if;
    if kept then  -- another write of these persons: their kept rows are forgotten, their notes stay
        if tg_op = 'INSERT' then
            delete from pg_temp.line_rewrite as w where w.person_id in (select b.person_id from new_rows as b);
        else
            delete from pg_temp.line_rewrite as w where w.person_id in (select o.person_id from old_rows as o);
        end if;
    end if;
    if tg_op = 'INSERT' then
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
comment on function derived.note_line_persons() is 'Notes in derived.person_line_stale the persons whose line inputs a statement wrote; a status row deleted and put back with the same shown values in one transaction leaves no note (0082).';

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
