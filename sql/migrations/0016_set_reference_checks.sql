-- References of the ingest's tables checked once per statement, as a set, not by per-row foreign-key
-- triggers (195k rows of a 200k-row file took 6.0-8.8 s into core.vaccination with its three foreign keys,
-- 1.6-2.6 s without). A statement trigger checks the distinct values of its new rows (a transition table)
-- in one join, with the guarantees of the foreign keys it replaces:
-- * a row naming an unknown facility, vaccine product, landing file or row code never stays, whatever wrote
--   it (INSERT, COPY, UPDATE, upsert): the statement fails with 23503 (foreign_key_violation), as before;
-- * the referenced rows named are locked FOR KEY SHARE, as a foreign key locks them: a concurrent delete
--   waits for the load and then fails (or the load fails if the delete committed first);
-- * the referenced side is kept: a DELETE, a change of key or a TRUNCATE that would leave a row without
--   what it names fails with 23503 (checked once per statement too).
-- Venues of core.checkin and communes of facility records were never foreign keys: the row rules check
-- them as sets. Foreign keys off the ingest's path stay.

-- Forward check. Arguments: (column, referenced table, its key) triples. Run as the owner, as a foreign
-- key's checks are (FOR KEY SHARE needs more than SELECT).
create function core.check_references() returns trigger
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
    i integer := 0;
    wanted bigint;
    locked bigint;
    missing text;
begin
    while i + 2 < tg_nargs loop
        -- the distinct values named, and the rows holding them locked (a key: one row per value)
        execute format(
            'with named as (select distinct n.%1$I as v from new_rows as n where n.%1$I is not null)'
            ' select (select count(*) from named),'
            ' (select count(*) from (select 1 from %2$s as r where r.%3$I in (select v from named)'
            ' for key share of r) as l)',
            tg_argv[i], tg_argv[i + 1], tg_argv[i + 2]
        ) into wanted, locked;
        if wanted <> locked then
            execute format(
                'select n.%1$I::text from new_rows as n where n.%1$I is not null'
                ' and not exists (select 1 from %2$s as r where r.%3$I = n.%1$I) limit 1',
                tg_argv[i], tg_argv[i + 1], tg_argv[i + 2]
            ) into missing;
            raise foreign_key_violation using
                message = format(
                    'insert or update on table "%s.%s" names a %s that does not exist',
                    tg_table_schema, tg_table_name, tg_argv[i]
                ),
                detail = format(
                    'Key (%s)=(%s) is not present in table "%s".', tg_argv[i], missing, tg_argv[i + 1]
                ),
                schema = tg_table_schema,
                table = tg_table_name,
                column = tg_argv[i],
                constraint = tg_name;
        end if;
        i := i + 3;
    end loop;
    return null;
end;
$$;
comment on function core.check_references() is
'Statement trigger (REFERENCING NEW TABLE AS new_rows): each (column, table, column) triple of its arguments names a reference checked once per statement over the distinct values; 23503 when one is missing.';

-- Reverse check after a DELETE or an UPDATE. Arguments: (key, referencing table, its column) triples.
create function core.keep_referenced() returns trigger
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
    i integer := 0;
    gone text;
begin
    while i + 2 < tg_nargs loop
        -- the old keys no longer in the table that a referencing row still names
        execute format(
            'select g.v::text from (select distinct o.%1$I as v from old_rows as o) as g'
            ' where not exists (select 1 from %4$I.%5$I as k where k.%1$I = g.v)'
            ' and exists (select 1 from %2$s as r where r.%3$I = g.v) limit 1',
            tg_argv[i], tg_argv[i + 1], tg_argv[i + 2], tg_table_schema, tg_table_name
        ) into gone;
        if gone is not null then
            raise foreign_key_violation using
                message = format(
                    'update or delete on table "%s.%s" would leave rows of %s without their %s',
                    tg_table_schema, tg_table_name, tg_argv[i + 1], tg_argv[i + 2]
                ),
                detail = format(
                    'Key (%s)=(%s) is still referenced from table "%s".', tg_argv[i], gone, tg_argv[i + 1]
                ),
                schema = tg_table_schema,
                table = tg_table_name,
                column = tg_argv[i],
                constraint = tg_name;
        end if;
        i := i + 3;
    end loop;
    return null;
end;
$$;
comment on function core.keep_referenced() is
'Statement trigger (REFERENCING OLD TABLE AS old_rows) on a referenced table: 23503 when a deleted or re-keyed row is still named by a (column, table, column) triple of its arguments.';

-- Reverse check before a TRUNCATE (no delete trigger fires). Same arguments.
create function core.keep_referenced_truncate() returns trigger
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
    i integer := 0;
    used boolean;
begin
    while i + 2 < tg_nargs loop
        execute format('select exists (select 1 from %s)', tg_argv[i + 1]) into used;
        if used then
            raise foreign_key_violation using
                message = format(
                    'cannot truncate table "%s.%s": rows of %s name it', tg_table_schema, tg_table_name,
                    tg_argv[i + 1]
                ),
                schema = tg_table_schema,
                table = tg_table_name,
                constraint = tg_name;
        end if;
        i := i + 3;
    end loop;
    return null;
end;
$$;
comment on function core.keep_referenced_truncate() is
'Statement trigger before TRUNCATE of a referenced table: 23503 when a (column, table, column) triple of its arguments names a table that has rows.';

-- The foreign keys replaced.
alter table core.vaccination drop constraint vaccination_facility_code_fkey;
alter table core.vaccination drop constraint vaccination_vaccine_code_fkey;
alter table core.vaccination drop constraint vaccination_source_file_id_fkey;
alter table core.vaccination_history drop constraint vaccination_history_replaced_by_file_id_fkey;
alter table core.test_result drop constraint test_result_facility_code_fkey;
alter table core.test_result drop constraint test_result_source_file_id_fkey;
alter table core.test_result_history drop constraint test_result_history_replaced_by_file_id_fkey;
alter table quarantine.row_problem drop constraint row_problem_code_fkey;
alter table quarantine.row_problem drop constraint row_problem_file_id_fkey;
alter table quarantine.rejected_row drop constraint rejected_row_file_id_fkey;
alter table core.venue drop constraint venue_source_file_id_fkey;
alter table core.identity_link drop constraint identity_link_first_seen_file_id_fkey;

-- Forward: a trigger per table and event (one event per trigger with transition tables).
create trigger vaccination_references_insert after insert on core.vaccination
referencing new table as new_rows for each statement execute function core.check_references(
    'facility_code', 'ops.facility', 'facility_code',
    'vaccine_code', 'core.vaccine_product', 'product_code',
    'source_file_id', 'ops.landing_file', 'file_id'
);
create trigger vaccination_references_update after update on core.vaccination
referencing new table as new_rows for each statement execute function core.check_references(
    'facility_code', 'ops.facility', 'facility_code',
    'vaccine_code', 'core.vaccine_product', 'product_code',
    'source_file_id', 'ops.landing_file', 'file_id'
);
create trigger vaccination_history_references_insert after insert on core.vaccination_history
referencing new table as new_rows for each statement execute function core.check_references(
    'replaced_by_file_id', 'ops.landing_file', 'file_id'
);
create trigger vaccination_history_references_update after update on core.vaccination_history
referencing new table as new_rows for each statement execute function core.check_references(
    'replaced_by_file_id', 'ops.landing_file', 'file_id'
);
create trigger test_result_references_insert after insert on core.test_result
referencing new table as new_rows for each statement execute function core.check_references(
    'facility_code', 'ops.facility', 'facility_code',
    'source_file_id', 'ops.landing_file', 'file_id'
);
create trigger test_result_references_update after update on core.test_result
referencing new table as new_rows for each statement execute function core.check_references(
    'facility_code', 'ops.facility', 'facility_code',
    'source_file_id', 'ops.landing_file', 'file_id'
);
create trigger test_result_history_references_insert after insert on core.test_result_history
referencing new table as new_rows for each statement execute function core.check_references(
    'replaced_by_file_id', 'ops.landing_file', 'file_id'
);
create trigger test_result_history_references_update after update on core.test_result_history
referencing new table as new_rows for each statement execute function core.check_references(
    'replaced_by_file_id', 'ops.landing_file', 'file_id'
);
create trigger row_problem_references_insert after insert on quarantine.row_problem
referencing new table as new_rows for each statement execute function core.check_references(
    'file_id', 'ops.landing_file', 'file_id',
    'code', 'ops.row_code', 'code'
);
create trigger row_problem_references_update after update on quarantine.row_problem
referencing new table as new_rows for each statement execute function core.check_references(
    'file_id', 'ops.landing_file', 'file_id',
    'code', 'ops.row_code', 'code'
);
create trigger rejected_row_references_insert after insert on quarantine.rejected_row
referencing new table as new_rows for each statement execute function core.check_references(
    'file_id', 'ops.landing_file', 'file_id'
);
create trigger rejected_row_references_update after update on quarantine.rejected_row
referencing new table as new_rows for each statement execute function core.check_references(
    'file_id', 'ops.landing_file', 'file_id'
);
create trigger venue_references_insert after insert on core.venue
referencing new table as new_rows for each statement execute function core.check_references(
    'source_file_id', 'ops.landing_file', 'file_id'
);
create trigger venue_references_update after update on core.venue
referencing new table as new_rows for each statement execute function core.check_references(
    'source_file_id', 'ops.landing_file', 'file_id'
);
create trigger identity_link_references_insert after insert on core.identity_link
referencing new table as new_rows for each statement execute function core.check_references(
    'first_seen_file_id', 'ops.landing_file', 'file_id'
);
create trigger identity_link_references_update after update on core.identity_link
referencing new table as new_rows for each statement execute function core.check_references(
    'first_seen_file_id', 'ops.landing_file', 'file_id'
);

-- Reverse: referenced rows stay.
create trigger facility_referenced_delete after delete on ops.facility
referencing old table as old_rows for each statement execute function core.keep_referenced(
    'facility_code', 'core.vaccination', 'facility_code',
    'facility_code', 'core.test_result', 'facility_code'
);
create trigger facility_referenced_update after update on ops.facility
referencing old table as old_rows for each statement execute function core.keep_referenced(
    'facility_code', 'core.vaccination', 'facility_code',
    'facility_code', 'core.test_result', 'facility_code'
);
create trigger facility_referenced_truncate before truncate on ops.facility
for each statement execute function core.keep_referenced_truncate(
    'facility_code', 'core.vaccination', 'facility_code',
    'facility_code', 'core.test_result', 'facility_code'
);

create trigger vaccine_product_referenced_delete after delete on core.vaccine_product
referencing old table as old_rows for each statement execute function core.keep_referenced(
    'product_code', 'core.vaccination', 'vaccine_code'
);
create trigger vaccine_product_referenced_update after update on core.vaccine_product
referencing old table as old_rows for each statement execute function core.keep_referenced(
    'product_code', 'core.vaccination', 'vaccine_code'
);
create trigger vaccine_product_referenced_truncate before truncate on core.vaccine_product
for each statement execute function core.keep_referenced_truncate(
    'product_code', 'core.vaccination', 'vaccine_code'
);

create trigger row_code_referenced_delete after delete on ops.row_code
referencing old table as old_rows for each statement execute function core.keep_referenced(
    'code', 'quarantine.row_problem', 'code'
);
create trigger row_code_referenced_update after update on ops.row_code
referencing old table as old_rows for each statement execute function core.keep_referenced(
    'code', 'quarantine.row_problem', 'code'
);
create trigger row_code_referenced_truncate before truncate on ops.row_code
for each statement execute function core.keep_referenced_truncate(
    'code', 'quarantine.row_problem', 'code'
);

create trigger landing_file_referenced_delete after delete on ops.landing_file
referencing old table as old_rows for each statement execute function core.keep_referenced(
    'file_id', 'core.vaccination', 'source_file_id',
    'file_id', 'core.vaccination_history', 'replaced_by_file_id',
    'file_id', 'core.test_result', 'source_file_id',
    'file_id', 'core.test_result_history', 'replaced_by_file_id',
    'file_id', 'quarantine.row_problem', 'file_id',
    'file_id', 'quarantine.rejected_row', 'file_id',
    'file_id', 'core.venue', 'source_file_id',
    'file_id', 'core.identity_link', 'first_seen_file_id'
);
-- file_id never changes (identity): refused by a row trigger that fires only on a change of it, rather than
-- a statement trigger that every status update of a file would pay.
create function core.landing_file_id_fixed() returns trigger
language plpgsql as $$
begin
    raise foreign_key_violation using
        message = 'the file_id of ops.landing_file never changes (core and quarantine rows name it)',
        table = 'landing_file',
        schema = 'ops';
end;
$$;
comment on function core.landing_file_id_fixed() is 'Row trigger: refuses a change of file_id.';
create trigger landing_file_id_fixed before update of file_id on ops.landing_file
for each row when (old.file_id is distinct from new.file_id) execute function core.landing_file_id_fixed();
create trigger landing_file_referenced_truncate before truncate on ops.landing_file
for each statement execute function core.keep_referenced_truncate(
    'file_id', 'core.vaccination', 'source_file_id',
    'file_id', 'core.vaccination_history', 'replaced_by_file_id',
    'file_id', 'core.test_result', 'source_file_id',
    'file_id', 'core.test_result_history', 'replaced_by_file_id',
    'file_id', 'quarantine.row_problem', 'file_id',
    'file_id', 'quarantine.rejected_row', 'file_id',
    'file_id', 'core.venue', 'source_file_id',
    'file_id', 'core.identity_link', 'first_seen_file_id'
);

-- core.identity_link's CCCD (written by check-in files) gets the cheap form 0013 gave person_key: same
-- answers as '^[0-9]{12}$' (tests/integration/test_destination_keys.py), no regex engine per row.
alter table core.identity_link drop constraint identity_link_citizen_id_check;
alter table core.identity_link add constraint identity_link_citizen_id_check
check (length(citizen_id) = 12 and citizen_id !~ '[^0-9]');

-- Check-ins of a new day loaded by sort: 500k scans of a day inserted through core.checkin cost 23-47 s
-- here (indexes maintained row by row, the person-key one in random order); built aside they cost 13 s
-- (docs/performance.md, "The destination"). core.load_checkins(rows, days) writes a relation's rows
-- (core.checkin's columns without loaded_at) day by day:
-- * a day whose partition is empty, when core.checkin can be locked at once (NOWAIT: never queues behind a
--   reader): the empty partition is dropped, the day rebuilt aside (key order, the first of a repeated
--   checkin_id kept) and attached, which builds its indexes by sort; the lock is held to the caller's commit;
-- * any other day: INSERT through core.checkin in key order, ON CONFLICT DO NOTHING (a check-in sent again
--   keeps its first version; two files of one day merged at once wait for each other instead of failing).
-- days must hold every local day of the rows. Returns the rows inserted.
create function core.load_checkins(source regclass, days date[]) returns bigint
language plpgsql as $$
declare
    day date;
    part text;
    columns constant text :=
        'checkin_id, local_day, venue_code, scanned_at, direction, mode, person_kind, person_key,'
        ' source_file_id, source_row';
    aside date[] := '{}';
    loaded bigint := 0;
    n bigint;
    has_rows boolean;
begin
    foreach day in array (select coalesce(array_agg(distinct d order by d), '{}') from unnest(days) as d) loop
        part := format('checkin_%s', to_char(day, 'YYYYMMDD'));
        if to_regclass(format('core.%I', part)) is null then
            continue;
        end if;
        execute format('select exists (select 1 from core.%I)', part) into has_rows;
        if has_rows then
            continue;
        end if;
        begin
            lock table core.checkin in access exclusive mode nowait;
        exception when lock_not_available then
            continue;
        end;
        -- with the lock, nobody else writes the day: its emptiness is now certain
        execute format('select exists (select 1 from core.%I)', part) into has_rows;
        if has_rows then
            continue;
        end if;
        execute format('alter table core.checkin detach partition core.%I', part);
        execute format('drop table core.%I', part);
        execute format(
            'create table core.%I (like core.checkin including defaults including constraints,'
            ' constraint load_checkins_day check (local_day >= %L and local_day < %L))',
            part, day, day + 1
        );
        execute format(
            'insert into core.%1$I (%2$s) select distinct on (r.checkin_id) %2$s from %3$s as r'
            ' where r.local_day = %4$L order by r.checkin_id, r.source_row',
            part, columns, source, day
        );
        get diagnostics n = row_count;
        loaded := loaded + n;
        -- ATTACH builds each index of core.checkin (primary key, tracing's two, the status build's BRIN)
        -- on the filled table, by sort, under the names a partition made by the parent gets
        execute format(
            'alter table core.checkin attach partition core.%I for values from (%L) to (%L)', part, day, day + 1
        );
        execute format('alter table core.%I drop constraint load_checkins_day', part);
        aside := aside || day;
    end loop;
    if (select bool_and(d = any(aside)) from unnest(days) as d) then
        return loaded;  -- every day built aside: no second pass over the rows
    end if;
    execute format(
        'insert into core.checkin (%1$s) select %1$s from %2$s as r where r.local_day <> all (%3$L)'
        ' order by r.local_day, r.checkin_id on conflict (local_day, checkin_id) do nothing',
        columns, source, aside
    );
    get diagnostics n = row_count;
    return loaded + n;
end;
$$;
comment on function core.load_checkins(regclass, date[]) is
'Writes check-in rows (a relation with core.checkin''s columns) day by day: an empty day''s partition rebuilt aside by sort and attached when core.checkin can be locked at once, else INSERT ... ON CONFLICT DO NOTHING through core.checkin; returns the rows inserted.';
