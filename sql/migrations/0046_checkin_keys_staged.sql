-- Check-ins at 500k (issue 16, branch e11-checkins): the person key staged with the row, and a day's rows
-- loaded without a sort when the caller knows their check-in ids are unique.
--
-- * staging.checkin.person_key: the pseudonym of (person_kind, identifier) (covidsync.privacy.pseudonym, the
--   same HMAC-SHA256 as covidsync.privacy.SQL_PSEUDONYM), computed by the stage once per distinct person of a
--   batch. The merge reads it instead of joining every loadable row to a table of keys hashed in SQL (the
--   join hashed the 490k staged rows: 5 s of the merge under load). Null on a row without a person key, or
--   when an older stage wrote the row: the merge then computes it in SQL. A pseudonym only: staging already
--   holds the identifier in clear until the file is finished. staging.checkin_loadable is made again so that
--   it has the column (a view's * is fixed when it is made).
-- * core.load_checkins(source, days, unique_keys): the 2-argument function of 0016 (with 0027's qr_kind),
--   and with unique_keys the day built aside is filled as the rows come, without the distinct on / order by
--   checkin_id that kept the first of a repeated id (a sort of the day's 490k rows that spilled 80 MB to disk
--   under the merge's work_mem). The check-in merge passes true: every repeated checkin_id of a file is a
--   duplicate_in_file error, so its loadable rows have unique ids. The indexes are built by sort at ATTACH
--   either way; a day that already has rows takes the INSERT ... ON CONFLICT DO NOTHING path as before.

alter table staging.checkin add column person_key text;
comment on column staging.checkin.person_key is
'Pseudonym of (person_kind, identifier) (covidsync.privacy), computed while staging; null without a person key or when an older stage wrote the row (the merge then computes it).';

create or replace view staging.checkin_loadable as
select s.*
from staging.checkin as s
where not exists (
    select 1 from quarantine.row_problem as q
    where q.file_id = s.file_id and q.row_number = s.row_number and q.severity = 'error'
);

create function core.load_checkins(source regclass, days date[], unique_keys boolean) returns bigint
language plpgsql as $$
declare
    day date;
    part text;
    columns constant text :=
        'checkin_id, local_day, venue_code, scanned_at, direction, mode, person_kind, person_key,'
        ' source_file_id, source_row' || case when exists (
            select from pg_attribute as a
            where a.attrelid = source and a.attname = 'qr_kind' and a.attnum > 0 and not a.attisdropped
        ) then ', qr_kind' else '' end;
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
        if unique_keys then
            execute format(
                'insert into core.%1$I (%2$s) select %2$s from %3$s as r where r.local_day = %4$L',
                part, columns, source, day
            );
        else
            execute format(
                'insert into core.%1$I (%2$s) select distinct on (r.checkin_id) %2$s from %3$s as r'
                ' where r.local_day = %4$L order by r.checkin_id, r.source_row',
                part, columns, source, day
            );
        end if;
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
comment on function core.load_checkins(regclass, date[], boolean) is
'core.load_checkins(source, days) (0016), and with unique_keys (the caller knows the rows'' checkin_ids are unique) an empty day''s partition is filled without the sort that kept the first of a repeated checkin_id; returns the rows inserted.';
