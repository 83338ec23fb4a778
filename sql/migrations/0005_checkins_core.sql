-- Venues and check-ins of PC-Covid in core, and the identity facts check-ins carry: the interface that
-- check-in ingest writes and identity resolution, health status and contact tracing read. Ingest's own
-- staging and quarantine tables come in a later migration.

-- One row per venue (a QR poster: shop, market, office, checkpoint), latest version.
create table core.venue (
    venue_code text primary key,
    name text,
    province_code text,
    district_code text,
    commune_code text,
    address text,
    venue_type text,
    source_file_id bigint not null references ops.landing_file (file_id),
    source_row integer not null,
    loaded_at timestamptz not null default now()
);
comment on table core.venue is 'One row per PC-Covid venue (QR poster), latest version; source_file_id/source_row say where it came from.';

-- One row per check-in (a scan), partitioned by the local day (Asia/Ho_Chi_Minh) of scanned_at. The
-- person is a pseudonymous key (covidsync.privacy: HMAC-SHA256 of '<kind>:<value>'), never a raw payload.
create table core.checkin (
    checkin_id text not null,
    local_day date not null,
    venue_code text not null,
    scanned_at timestamptz not null,
    direction text not null default 'in' check (direction in ('in', 'out')),
    mode text check (mode in ('self_scan', 'operator_scan')),
    person_kind text not null check (person_kind in ('cccd', 'cmnd', 'qid', 'phone')),
    person_key text not null check (person_key ~ '^[0-9a-f]{64}$'),
    source_file_id bigint not null,
    source_row integer not null,
    loaded_at timestamptz not null default now(),
    check (local_day = (scanned_at at time zone 'Asia/Ho_Chi_Minh')::date),
    primary key (local_day, checkin_id)
) partition by range (local_day);
comment on table core.checkin is 'One row per PC-Covid check-in, partitioned by local day; person_key is pseudonymous (kind: cccd > cmnd > qid > phone, the best the scan carried).';
create index checkin_venue_time on core.checkin (venue_code, scanned_at);
create index checkin_person_time on core.checkin (person_key, scanned_at);

-- core.checkin_<yyyymmdd> for one local day, made when missing; returns the partition's name.
create function core.ensure_checkin_partition(day date) returns text
language plpgsql as $$
declare
    part text := format('checkin_%s', to_char(day, 'YYYYMMDD'));
begin
    if to_regclass(format('core.%I', part)) is null then
        execute format(
            'create table core.%I partition of core.checkin for values from (%L) to (%L)',
            part, day, day + 1
        );
    end if;
    return part;
end;
$$;
comment on function core.ensure_checkin_partition(date) is 'Creates the check-in partition of a local day if missing (idempotent).';

-- One row per pair of identifiers seen together on a trustworthy source: a CCCD card QR carries the CCCD and
-- the old CMND; a personal QR carries the QID and, when not masked, the document number.
create table core.identity_link (
    citizen_id text not null check (citizen_id ~ '^[0-9]{12}$'),
    other_kind text not null check (other_kind in ('cmnd', 'qid', 'phone')),
    other_value text not null,
    source text not null check (source in ('cccd_qr', 'personal_qr', 'record')),
    first_seen_file_id bigint not null references ops.landing_file (file_id),
    first_seen_at timestamptz not null default now(),
    primary key (citizen_id, other_kind, other_value)
);
comment on table core.identity_link is 'One row per (CCCD, other identifier) pair seen together on a trusted source (card QR, personal QR).';
create index identity_link_other on core.identity_link (other_kind, other_value);

-- The identity a check-in's person carried, for identity resolution: one row per pseudonymous key, with what
-- the scan told about the person (name, birth date from a QR). Personal data: core only.
create table core.checkin_person (
    person_kind text not null check (person_kind in ('cccd', 'cmnd', 'qid', 'phone')),
    person_key text not null,
    identifier text not null,
    full_name text,
    date_of_birth date,
    birth_year integer,
    gender text check (gender in ('male', 'female')),
    phone text,
    first_seen_at timestamptz not null,
    last_seen_at timestamptz not null,
    primary key (person_kind, person_key)
);
comment on table core.checkin_person is 'One row per person identity seen on check-ins (keyed like core.checkin), with what the QR said about them.';
