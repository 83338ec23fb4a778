-- Check-ins straight into core (issue 16, branch e23-checkins): a new day's rows written while the file is
-- read, into a table built aside, then attached as the day's partition.
--
-- The check-ins' direct path (covidsync.ingest.checkins.stage_direct, engine.ingest_direct) copies the rows
-- no rule can stop (no row code in their batch, a check-in id not seen before in the file, a person key) into
-- core.checkin_load_<file_id>_<yyyymmdd>, a table like core.checkin with its defaults and checks and the
-- check of its local day (load_checkins_day, as core.load_checkins builds a day aside), in the file's one
-- transaction. Its merge adds the day's other loadable rows and calls core.attach_checkin_day(aside, day):
-- when the day's partition is empty and core.checkin can be locked at once (NOWAIT: never queues behind a
-- reader), the empty partition is dropped, the table aside takes its name and is attached (ATTACH builds each
-- index of core.checkin by sort: the primary key, tracing's two, the status build's BRIN, under the names a
-- partition made by the parent gets; the day's check skips the scan of its rows), and true is returned; else
-- false, and the caller inserts the rows through core.checkin with ON CONFLICT DO NOTHING, as
-- core.load_checkins does for a day that already has rows. The lock is held to the caller's commit, as
-- core.load_checkins holds it.
create function core.attach_checkin_day(aside regclass, day date) returns boolean
language plpgsql as $$
declare
    part constant text := format('checkin_%s', to_char(day, 'YYYYMMDD'));
    has_rows boolean;
begin
    if to_regclass(format('core.%I', part)) is null then
        return false;  -- the caller makes the day's partition first (core.ensure_checkin_partition)
    end if;
    execute format('select exists (select 1 from core.%I)', part) into has_rows;
    if has_rows then
        return false;
    end if;
    begin
        lock table core.checkin in access exclusive mode nowait;
    exception when lock_not_available then
        return false;
    end;
    -- with the lock, nobody else writes the day: its emptiness is now certain
    execute format('select exists (select 1 from core.%I)', part) into has_rows;
    if has_rows then
        return false;
    end if;
    execute format('alter table core.checkin detach partition core.%I', part);
    execute format('drop table core.%I', part);
    execute format('alter table %s rename to %I', aside, part);
    execute format(
        'alter table core.checkin attach partition core.%I for values from (%L) to (%L)', part, day, day + 1
    );
    execute format('alter table core.%I drop constraint load_checkins_day', part);
    return true;
end;
$$;
comment on function core.attach_checkin_day(regclass, date) is
'Attaches a table built aside (like core.checkin, with the load_checkins_day check) as the partition of its local day when that day''s partition is empty and core.checkin can be locked at once; returns whether it did (else the caller inserts its rows through core.checkin).';
