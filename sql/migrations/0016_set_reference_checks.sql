-- References of the ingest's destination tables checked once per statement, as a set, instead of by
-- per-row foreign-key triggers. A foreign key fires one trigger per row and column: writing the 195k final
-- rows of a 200k-row vaccinations file into core.vaccination took 6.0-8.8 s with its three foreign keys
-- against 1.6-2.6 s without them (docs/performance.md, "The destination"). Here an AFTER ... FOR EACH
-- STATEMENT trigger reads the statement's new rows (a transition table), takes the distinct values of each
-- referencing column and checks them in one join; the same guarantees as the foreign keys it replaces:
--
-- * a row naming an unknown facility, vaccine product, landing file or row code never stays in the table,
--   whatever wrote it (INSERT ... SELECT, INSERT ... VALUES, COPY, UPDATE, INSERT ... ON CONFLICT): the
--   statement fails with SQLSTATE 23503 (foreign_key_violation), as before;
-- * the referenced rows the statement named are locked FOR KEY SHARE, as a foreign key locks them, so a
--   concurrent delete of a facility waits for the load and then fails (or the load fails if the delete
--   committed first);
-- * the referenced side is kept: deleting a referenced row, changing its key, or truncating a referenced
--   table fails with 23503 while a row still names it (checked once per statement too).
--
-- The checks sit on every table the ingest writes in bulk: core.vaccination, core.test_result (and their
-- history tables), quarantine.row_problem, quarantine.rejected_row, core.venue, core.identity_link. The
-- venues of core.checkin and the communes of core.vaccination/core.test_result have never been foreign keys:
-- the row rules check them as a set (unknown_venue, invalid_admin_code: sql/ingest/*_row_problem.sql).
-- Foreign keys outside the ingest's hot path (ops.*, derived.*, publish.*) stay foreign keys.

-- Forward check. Arguments: triples (referencing column, referenced table, referenced column). The
-- trigger names the statement's new rows new_rows.
create function core.check_references() returns trigger
language plpgsql as $$
declare
    i integer := 0;
    wanted bigint;
    locked bigint;
    missing text;
begin
    while i + 2 < tg_nargs loop
        -- the distinct values named, and the referenced rows that hold them, locked as a foreign key locks
        -- them (the referenced column is a primary key: at most one row per value)
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

-- Reverse check, on the referenced table after a DELETE or an UPDATE. Arguments: triples (referenced
-- column, referencing table, referencing column). The trigger names the statement's old rows old_rows.
create function core.keep_referenced() returns trigger
language plpgsql as $$
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

-- Reverse check before a TRUNCATE (which fires no delete trigger). Same arguments.
create function core.keep_referenced_truncate() returns trigger
language plpgsql as $$
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

-- Forward: one trigger per table and event (a trigger with transition tables has one event).
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

-- Reverse: the referenced tables keep the rows that are named.
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
-- file_id is an identity column that no statement changes; an update that did would be checked all the
-- same, but the trigger would cost every status update of a file a look at eight tables. The key is kept
-- by refusing a change of file_id instead (a row trigger on a one-row update: cheap).
create function core.landing_file_id_fixed() returns trigger
language plpgsql as $$
begin
    raise foreign_key_violation using
        message = 'the file_id of ops.landing_file never changes (core and quarantine rows name it)',
        table = 'landing_file',
        schema = 'ops';
end;
$$;
comment on function core.landing_file_id_fixed() is 'Row trigger: refuses a change of ops.landing_file.file_id.';
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

-- The per-row regular expressions of the ingest's destination. core.checkin's person_key check was made
-- cheap in 0013 (length + no character outside 0-9a-f: 0.4 s per 500k keys against 5.3-5.7 s for the
-- anchored '^[0-9a-f]{64}$'; ltrim/translate variants cost 1.9-2.8 s; measured for this migration). The
-- CCCD of core.identity_link, written by every check-in file whose card QRs link identifiers, gets the same
-- form: it accepts and refuses exactly what '^[0-9]{12}$' did (tests/integration/test_destination_keys.py).
alter table core.identity_link drop constraint identity_link_citizen_id_check;
alter table core.identity_link add constraint identity_link_citizen_id_check
check (length(citizen_id) = 12 and citizen_id !~ '[^0-9]');
