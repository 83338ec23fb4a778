-- The published row's aggregated parts, stored (issues 19 and 20): a person's vaccination certificate (with
-- and without lot numbers), test history and their canonical texts, as of the status build's as_of, written by
-- the status build when the person's inputs change (covidsync.status.cards, sql/status/person_card.sql), so
-- that a release copies them instead of aggregating core.vaccination and core.test_result for every person.
-- A release uses a stored card only while it holds (derived.person_card_state; expires_at), and computes the
-- others with the same SQL: what it publishes is the same either way.

create table derived.person_card (
    person_id bigint primary key,
    vaccination_certificate jsonb not null,
    certificate_text text not null,
    sskdt_certificate jsonb not null,
    sskdt_certificate_text text not null,
    lot_line text not null,
    doses_shown integer not null,
    test_history jsonb not null,
    test_history_text text not null,
    dose_expires_at timestamptz,
    test_expires_at timestamptz,
    expires_at timestamptz
);
comment on table derived.person_card is 'One row per person with doses or tests in the 90-day window (or after it): the published row''s certificates and test history as of derived.person_card_state.as_of, until expires_at. No row: an empty certificate and history.';
comment on column derived.person_card.vaccination_certificate is 'The VNeID certificate: the doses given on or before the as_of day, in order (contract §6).';
comment on column derived.person_card.certificate_text is 'Its canonical text (dose:on:product:facility_code joined by ;), for the row and view hashes.';
comment on column derived.person_card.sskdt_certificate is 'The Sổ SKĐT certificate: the same doses, each with lot_number (contract §7).';
comment on column derived.person_card.sskdt_certificate_text is 'Its canonical text (with the lot number, \N when none).';
comment on column derived.person_card.lot_line is 'The doses'' lot numbers (\N when none) joined by ;, a part of the row hash.';
comment on column derived.person_card.doses_shown is 'How many doses the certificates hold.';
comment on column derived.person_card.test_history is 'The tests sampled in the 90 days before as_of, newest first, at most 20 (contract §7).';
comment on column derived.person_card.test_history_text is 'Its canonical text, for the row and view hashes.';
comment on column derived.person_card.dose_expires_at is 'When a dose dated after the as_of day enters the certificates; null: never.';
comment on column derived.person_card.test_expires_at is 'When a test leaves the 90 days or one sampled later enters; null: never.';
comment on column derived.person_card.expires_at is 'The earlier of dose_expires_at and test_expires_at: from then on the card is computed again.';
create index person_card_expiry on derived.person_card (expires_at) where expires_at is not null;

-- The cards' state: the as_of of the last card step (every card holds as of it), and whether every card is
-- stale (a statement changed more inputs than derived.card_note_limit(), a table was truncated, or no card
-- step has run yet): then the next status build computes every card, and until it does a release computes
-- them all itself.
create table derived.person_card_state (
    singleton boolean primary key default true check (singleton),
    as_of timestamptz,
    all_stale boolean not null default true
);
comment on table derived.person_card_state is 'One row: the as_of the cards of derived.person_card hold as of, and whether they are all stale.';
insert into derived.person_card_state default values;

-- The persons whose card inputs changed since their card was computed (noted by the triggers below): the next
-- status build computes their cards again; until then a release computes them itself.
create table derived.person_card_stale (
    person_id bigint primary key
);
comment on table derived.person_card_stale is 'One row per person whose card inputs (doses, test records, lot numbers, tests) changed since the card was computed.';

create function derived.card_note_limit() returns integer
language sql immutable as 'select 100000';

create function derived.note_card_persons() returns trigger
language plpgsql as $$
declare
    ids bigint [];
begin
    if (select all_stale from derived.person_card_state) then
        return null;  -- every card is computed again anyway
    end if;
    if tg_op = 'DELETE' or tg_op = 'UPDATE' then
        if (select count(*) from old_rows) > derived.card_note_limit() then
            update derived.person_card_state set all_stale = true;
            return null;
        end if;
    else
        if (select count(*) from new_rows) > derived.card_note_limit() then
            update derived.person_card_state set all_stale = true;
            return null;
        end if;
    end if;
    if tg_table_name = 'vaccination_dose' then
        if tg_op = 'INSERT' then
            select array_agg(distinct person_id) into ids from new_rows;
        elsif tg_op = 'DELETE' then
            select array_agg(distinct person_id) into ids from old_rows;
        else
            select array_agg(distinct person_id) into ids from (
                (
                    select person_id, dose_number, vaccinated_on, product_code, facility_code, vaccination_id
                    from old_rows
                    except
                    select person_id, dose_number, vaccinated_on, product_code, facility_code, vaccination_id
                    from new_rows
                )
                union all
                (
                    select person_id, dose_number, vaccinated_on, product_code, facility_code, vaccination_id
                    from new_rows
                    except
                    select person_id, dose_number, vaccinated_on, product_code, facility_code, vaccination_id
                    from old_rows
                )
            ) as changed;
        end if;
    elsif tg_table_name = 'person_record' then
        if tg_op = 'INSERT' then
            select array_agg(distinct person_id) into ids from new_rows where source = 'test_result';
        elsif tg_op = 'DELETE' then
            select array_agg(distinct person_id) into ids from old_rows where source = 'test_result';
        else
            select array_agg(distinct person_id) into ids from (
                (
                    select source, record_id, person_id from old_rows
                    except
                    select source, record_id, person_id from new_rows
                )
                union all
                (
                    select source, record_id, person_id from new_rows
                    except
                    select source, record_id, person_id from old_rows
                )
            ) as changed
            where source = 'test_result';
        end if;
    elsif tg_table_name = 'vaccination' then  -- core: a lot number corrected, or the record behind a dose gone
        if tg_op = 'DELETE' then
            select array_agg(distinct d.person_id) into ids
            from old_rows as o inner join derived.vaccination_dose as d on o.vaccination_id = d.vaccination_id;
        else
            select array_agg(distinct d.person_id) into ids
            from (
                select vaccination_id, lot_number from old_rows
                except
                select vaccination_id, lot_number from new_rows
            ) as changed
            inner join derived.vaccination_dose as d on changed.vaccination_id = d.vaccination_id;
        end if;
    elsif tg_table_name = 'test_result' then  -- core: a test corrected or gone
        if tg_op = 'DELETE' then
            select array_agg(distinct r.person_id) into ids
            from old_rows as o
            inner join derived.person_record as r on r.source = 'test_result' and o.test_result_id = r.record_id;
        else
            select array_agg(distinct r.person_id) into ids
            from (
                select test_result_id, sample_id, test_type, sampled_at, resulted_at, result, pooled, facility_code
                from old_rows
                except
                select test_result_id, sample_id, test_type, sampled_at, resulted_at, result, pooled, facility_code
                from new_rows
            ) as changed
            inner join derived.person_record as r
                on r.source = 'test_result' and changed.test_result_id = r.record_id;
        end if;
    end if;
    if cardinality(ids) > derived.card_note_limit() then
        update derived.person_card_state set all_stale = true;
    elsif cardinality(ids) > 0 then
        insert into derived.person_card_stale (person_id) select unnest(ids) on conflict do nothing;
    end if;
    return null;
end
$$;
comment on function derived.note_card_persons() is 'Notes in derived.person_card_stale the persons whose card inputs a statement changed (0032).';

create function derived.note_card_truncate() returns trigger
language plpgsql as $$
begin
    update derived.person_card_state set all_stale = true where not all_stale;
    return null;
end
$$;

create trigger card_inserted after insert on derived.vaccination_dose
referencing new table as new_rows
for each statement execute function derived.note_card_persons();
create trigger card_changed after update on derived.vaccination_dose
referencing old table as old_rows new table as new_rows
for each statement execute function derived.note_card_persons();
create trigger card_deleted after delete on derived.vaccination_dose
referencing old table as old_rows
for each statement execute function derived.note_card_persons();
create trigger card_truncated after truncate on derived.vaccination_dose
for each statement execute function derived.note_card_truncate();

create trigger card_inserted after insert on derived.person_record
referencing new table as new_rows
for each statement execute function derived.note_card_persons();
create trigger card_changed after update on derived.person_record
referencing old table as old_rows new table as new_rows
for each statement execute function derived.note_card_persons();
create trigger card_deleted after delete on derived.person_record
referencing old table as old_rows
for each statement execute function derived.note_card_persons();
create trigger card_truncated after truncate on derived.person_record
for each statement execute function derived.note_card_truncate();

create trigger card_changed after update on core.vaccination
referencing old table as old_rows new table as new_rows
for each statement execute function derived.note_card_persons();
create trigger card_deleted after delete on core.vaccination
referencing old table as old_rows
for each statement execute function derived.note_card_persons();

create trigger card_changed after update on core.test_result
referencing old table as old_rows new table as new_rows
for each statement execute function derived.note_card_persons();
create trigger card_deleted after delete on core.test_result
referencing old table as old_rows
for each statement execute function derived.note_card_persons();
