-- Check-in and venue ingest (PC-Covid files, contract section 5): staging for one batch at a time, the
-- identity facts a batch's QR payloads carried, and what core.checkin needs for reloads and retention.
-- The interface tables themselves (core.venue, core.checkin, core.identity_link, core.checkin_person)
-- are in 0005.

-- One row per data row of a venues file being processed; replaced per file. Unlogged: a rerun replaces it.
create unlogged table staging.venue (
    file_id bigint not null,
    row_number integer not null,
    raw jsonb not null,
    venue_code text,
    name text,
    province_code text,
    district_code text,
    commune_code text,
    address text,
    venue_type text,
    primary key (file_id, row_number)
);
comment on table staging.venue is 'One row per data row of a PC-Covid venues file being processed; replaced per file.';

-- One row per data row of a check-ins file being processed. The *_text columns are the values as sent
-- (NFC) where they differ from what the streaming parser read (the other columns; null when absent or
-- unreadable): an unreadable date, an invalid phone, a repaired or invalid citizen_id. person_kind
-- and identifier are the best person key the row carried (cccd > cmnd > qid > phone), in clear: staging
-- is emptied when the file is finished, and core keeps only the pseudonym. No primary key and unlogged:
-- this is the hot path (tens of millions of rows a day), written by COPY.
create unlogged table staging.checkin (
    file_id bigint not null,
    row_number integer not null,
    checkin_id text,
    venue_code text,
    scanned_at_text text,
    scanned_at timestamptz,
    direction_text text,
    mode_text text,
    qr_payload text,
    qr_kind text check (qr_kind in ('cccd', 'personal', 'invalid')),
    citizen_id_text text,
    citizen_id text,
    phone_text text,
    phone text,
    person_kind text check (person_kind in ('cccd', 'cmnd', 'qid', 'phone')),
    identifier text
);
comment on table staging.checkin is 'One row per data row of a PC-Covid check-ins file being processed (values as sent and as read); replaced per file.';
create index staging_checkin_file on staging.checkin (file_id);

-- What the QR payloads of one file said about each person key: one row per (file, person_kind,
-- identifier) as first met in the file (a bounded cache of the parser may write a key twice; readers take
-- distinct values). Merged into core.checkin_person and core.identity_link for the keys that loaded.
create unlogged table staging.checkin_identity (
    file_id bigint not null,
    person_kind text not null,
    identifier text not null,
    source text not null check (source in ('cccd_qr', 'personal_qr')),
    citizen_id text,
    cmnd text,
    qid text,
    phone text,
    full_name text,
    date_of_birth date,
    birth_year integer,
    gender text
);
comment on table staging.checkin_identity is 'One row per person key of a check-ins file with the facts its QR payload gave (name, birth date, linked identifiers); replaced per file.';
create index staging_checkin_identity_file on staging.checkin_identity (file_id);

-- Detach and drop every check-in partition of a local day before cutoff; returns the partitions dropped.
create function core.drop_checkin_partitions_before(cutoff date) returns setof text
language plpgsql as $$
declare
    part record;
begin
    for part in
        select
            c.relname as name,
            to_date(substr(c.relname, 9, 8), 'YYYYMMDD') as day
        from pg_inherits as i
        inner join pg_class as c on i.inhrelid = c.oid
        inner join pg_namespace as n on c.relnamespace = n.oid
        where
            i.inhparent = 'core.checkin'::regclass
            and n.nspname = 'core'
            and c.relname ~ '^checkin_[0-9]{8}$'
        order by c.relname
    loop
        if part.day < cutoff then
            execute format('alter table core.checkin detach partition core.%I', part.name);
            execute format('drop table core.%I', part.name);
            return next part.name;
        end if;
    end loop;
end;
$$;
comment on function core.drop_checkin_partitions_before(date) is 'Retention: detaches and drops the check-in partitions of local days before cutoff; returns their names.';

-- The staged rows free of errors: what a merge loads.
create view staging.checkin_loadable as
select s.*
from staging.checkin as s
where not exists (
    select 1 from quarantine.row_problem as q
    where q.file_id = s.file_id and q.row_number = s.row_number and q.severity = 'error'
);
comment on view staging.checkin_loadable is 'Staged check-in rows with no error (warnings allowed).';

create view staging.venue_loadable as
select s.*
from staging.venue as s
where not exists (
    select 1 from quarantine.row_problem as q
    where q.file_id = s.file_id and q.row_number = s.row_number and q.severity = 'error'
);
comment on view staging.venue_loadable is 'Staged venue rows with no error.';
