-- Issue 20, the rest: the two adoption feeds (docs/contract/adoption.md §1) through the ingest engine like
-- every dataset, and the QR kind of each check-in written by the engine.
-- * staging.app_user_count (landing/pccovid/app_users/) and staging.area_population
--   (landing/registry/population.csv): one row per data row of a file being processed, typed, with the
--   values as sent (raw); their loadable views (no error row). An area code that lost its leading zero in a
--   spreadsheet is repaired where its length proves it: 1 digit is a province (01-09), 4 digits a commune.
-- * The row codes of adoption.md §3: invalid_count, unknown_area (future_date is the contract's own).
-- * core.load_checkins writes core.checkin.qr_kind (added by 0020) from the rows it is given.

create unlogged table staging.app_user_count (
    file_id bigint not null,
    row_number integer not null,
    raw jsonb not null,
    day date,
    area_code_sent text,
    area_code text generated always as (
        case
            when area_code_sent ~ '^[0-9]$' then '0' || area_code_sent
            when area_code_sent ~ '^[0-9]{4}$' then '0' || area_code_sent
            else area_code_sent
        end
    ) stored,
    registered_users integer,
    active_users_7d integer,
    primary key (file_id, row_number)
);
comment on table staging.app_user_count is 'One row per data row of a PC-Covid app-user counts file being processed (adoption.md §1); replaced per file.';
comment on column staging.app_user_count.area_code is 'area_code_sent with a leading zero a spreadsheet dropped put back (1 digit: a province; 4 digits: a commune).';

create view staging.app_user_count_loadable as
select s.*
from staging.app_user_count as s
where not exists (
    select 1 from quarantine.row_problem as q
    where q.file_id = s.file_id and q.row_number = s.row_number and q.severity = 'error'
);
comment on view staging.app_user_count_loadable is 'Staged app-user count rows with no error.';

create unlogged table staging.area_population (
    file_id bigint not null,
    row_number integer not null,
    raw jsonb not null,
    area_code_sent text,
    area_code text generated always as (
        case
            when area_code_sent ~ '^[0-9]$' then '0' || area_code_sent
            when area_code_sent ~ '^[0-9]{4}$' then '0' || area_code_sent
            else area_code_sent
        end
    ) stored,
    year integer,
    population integer,
    smartphone_owners integer,
    source text,
    primary key (file_id, row_number)
);
comment on table staging.area_population is 'One row per data row of a population registry file being processed (adoption.md §1); replaced per file.';

create view staging.area_population_loadable as
select s.*
from staging.area_population as s
where not exists (
    select 1 from quarantine.row_problem as q
    where q.file_id = s.file_id and q.row_number = s.row_number and q.severity = 'error'
);
comment on view staging.area_population_loadable is 'Staged population rows with no error.';

insert into ops.row_code (code, severity)
values
('invalid_count', 'error'),
('unknown_area', 'error');

-- core.load_checkins (0016) writes a fixed column list; qr_kind joins it when the rows given have the column
-- (checkin_merge.sql's do; a relation without it, as older callers pass, loads as before, qr_kind null). The
-- list is patched in the function's current definition (whatever else a later rewrite of its body changed),
-- not copied here.
do $$
declare
    body text := pg_get_functiondef('core.load_checkins(regclass, date[])'::regprocedure);
    before constant text := $b$' source_file_id, source_row'$b$;
    after constant text := $a$' source_file_id, source_row' || case when exists (
            select from pg_attribute as a
            where a.attrelid = source and a.attname = 'qr_kind' and a.attnum > 0 and not a.attisdropped
        ) then ', qr_kind' else '' end$a$;
begin
    if position(before in body) = 0 then
        raise exception 'core.load_checkins: its column list does not end with source_file_id, source_row';
    end if;
    execute replace(body, before, after);
end;
$$;
