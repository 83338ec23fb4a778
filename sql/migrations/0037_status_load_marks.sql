-- Issue 19 (branch s2-status): an incremental status build with nothing new returns after a handful of index
-- probes (covidsync.status.build._nothing_new). Whether anything was loaded into core.vaccination,
-- core.test_result or core.declaration since the last build cannot be asked of the tables themselves
-- cheaply: their loaded_at has a BRIN index (0029, 0030), and a page range no vacuum has summarised yet (with
-- autovacuum off: every range since the index was built) is read whole by any "loaded since" probe, so that
-- probe grows with the table. Each statement that writes one of these tables (an insert, a COPY, an update, a
-- delete; a merge is a few statements) now appends one row here, stamped like the rows it writes (now(): the
-- start of the writing transaction, so a load open while a build began is stamped at or after that build's
-- watermark). "Anything since W" is then one probe of this small table's b-tree. A mark says only that
-- something may have changed: the build then takes its usual path, which reads the rows themselves.
-- The status build deletes the marks older than every rule set's watermarks (as it does core.identity_change).
create table core.load_mark (
    table_name text not null,
    loaded_at timestamptz not null default now()
);
comment on table core.load_mark is 'One row per statement that wrote core.vaccination, core.test_result or core.declaration (its table and transaction start): the cheap "loaded since" probe of an incremental status build with nothing new.';
create index load_mark_at on core.load_mark (loaded_at);

create function core.note_load_mark() returns trigger
language plpgsql as $$
begin
    insert into core.load_mark (table_name) values (tg_table_name);
    return null;
end;
$$;
comment on function core.note_load_mark() is 'Statement trigger: notes that a statement wrote the table (core.load_mark).';

create trigger vaccination_load_mark after insert or update or delete on core.vaccination
for each statement execute function core.note_load_mark();
create trigger test_result_load_mark after insert or update or delete on core.test_result
for each statement execute function core.note_load_mark();
create trigger declaration_load_mark after insert or update or delete on core.declaration
for each statement execute function core.note_load_mark();

-- rows loaded before this migration have no mark: one mark per table now, so that the next build of every
-- rule set (its watermark is older) takes its usual path and sees them
insert into core.load_mark (table_name) values ('vaccination'), ('test_result'), ('declaration');
