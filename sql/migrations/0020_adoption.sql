-- PC-Covid adoption and QR compliance (contract docs/contract/adoption.md): the two small feeds in core (the app
-- operator's daily user counts per area, the population registry), with history (a file that repeats a
-- (day, area) or (area, year) with other figures replaces the earlier ones, which move to the history table:
-- latest file wins, history kept), the QR kind of each check-in, and the marts (no personal data).
-- The file ingest of the two feeds is a dataset spec of the ingest engine (added with it); until then the
-- tables are written by covidsync.marts.adoption.store_app_user_counts / store_population.

-- One row per day and area (2-digit province, 3-digit district, 5-digit commune): the latest figures.
create table core.app_user_count (
    day date not null,
    area_code text not null check (area_code ~ '^([0-9]{2}|[0-9]{3}|[0-9]{5})$'),
    area_level text not null generated always as (
        case length(area_code) when 2 then 'province' when 3 then 'district' else 'commune' end
    ) stored,
    registered_users integer not null check (registered_users >= 0),
    active_users_7d integer not null check (active_users_7d >= 0),
    source_file_id bigint references ops.landing_file (file_id),
    loaded_at timestamptz not null default now(),
    check (active_users_7d <= registered_users),
    primary key (day, area_code)
);
comment on table core.app_user_count is 'PC-Covid users per area and day from the app operator (adoption.md §1), latest file wins; earlier figures in core.app_user_count_history.';
comment on column core.app_user_count.active_users_7d is 'Users who opened the app or scanned in the 7 days up to day.';

create table core.app_user_count_history (
    day date not null,
    area_code text not null,
    registered_users integer not null,
    active_users_7d integer not null,
    source_file_id bigint,
    loaded_at timestamptz not null,
    replaced_at timestamptz not null default now(),
    replaced_by_file_id bigint
);
comment on table core.app_user_count_history is 'Earlier figures of core.app_user_count replaced by a later file with other counts.';
create index app_user_count_history_key on core.app_user_count_history (day, area_code);

-- One row per area and year: the population and the estimated smartphone owners (may be unknown).
create table core.area_population (
    area_code text not null check (area_code ~ '^([0-9]{2}|[0-9]{3}|[0-9]{5})$'),
    year integer not null check (year between 1990 and 2100),
    area_level text not null generated always as (
        case length(area_code) when 2 then 'province' when 3 then 'district' else 'commune' end
    ) stored,
    population integer not null check (population > 0),
    smartphone_owners integer check (smartphone_owners >= 0),
    source text not null,
    source_file_id bigint references ops.landing_file (file_id),
    loaded_at timestamptz not null default now(),
    primary key (area_code, year)
);
comment on table core.area_population is 'Population and smartphone owners per area and year (landing/registry/population.csv), latest file wins; earlier figures in core.area_population_history.';

create table core.area_population_history (
    area_code text not null,
    year integer not null,
    population integer not null,
    smartphone_owners integer,
    source text not null,
    source_file_id bigint,
    loaded_at timestamptz not null,
    replaced_at timestamptz not null default now(),
    replaced_by_file_id bigint
);
comment on table core.area_population_history is 'Earlier figures of core.area_population replaced by a later file.';

-- The kind of QR (or typed key) behind a check-in: cccd_qr (CCCD card QR), personal_qr (personal QR of
-- Decision 1405), typed (no payload: an operator typed the citizen_id or phone). Null for check-ins loaded
-- before the ingest wrote it. Adding a nullable column is a catalogue change only, even on a large table.
alter table core.checkin add column qr_kind text check (qr_kind in ('cccd_qr', 'personal_qr', 'typed'));

-- Adoption per area and day (adoption.md §2). Districts and the province take the operator's own row when it
-- sent one, else the sum of their communes (districts) or districts (province).
create table mart.app_adoption (
    area_level text not null check (area_level in ('province', 'district', 'commune')),
    area_code text not null,
    area_name text,
    day date not null,
    registered_users integer not null,
    active_users_7d integer not null,
    population integer,
    device_owners integer,
    registered_share_population numeric(7, 4),
    registered_share_devices numeric(7, 4),
    active_share_population numeric(7, 4),
    registered_change_7d integer,
    national_rank integer,
    provinces_ranked integer,
    primary key (area_level, area_code, day)
);
comment on table mart.app_adoption is 'PC-Covid registered and active users per area and day, over population and smartphone owners, 7-day change, and the province''s national rank.';
comment on column mart.app_adoption.device_owners is 'Smartphone owners of the area (core.area_population.smartphone_owners; null when unknown).';
comment on column mart.app_adoption.registered_share_devices is 'registered_users / device_owners (the share of smartphone owners).';
comment on column mart.app_adoption.registered_change_7d is 'registered_users minus the figure of 7 days earlier (null when that day is missing).';
comment on column mart.app_adoption.national_rank is 'Provinces only: rank by registered users among the provinces of that day''s extract (1 = most); null when the extract has no other province.';

-- QR compliance of venues per day, district, commune (''all'': the district) and venue type (''all'': every type).
create table mart.venue_compliance_day (
    day date not null,
    district_code text not null,
    commune_code text not null,
    venue_type text not null,
    registered_venues integer not null,
    active_venues integer not null,
    compliance_share numeric(7, 4),
    scans integer not null,
    scans_per_active_venue numeric(12, 2),
    primary key (day, district_code, commune_code, venue_type)
);
comment on table mart.venue_compliance_day is 'Registered venues, venues with at least one scan that day, their share, and scans per active venue; per day, district, commune (all = the district) and venue type (all = every type).';

-- Silent venues as of a day: registered venues of a type that must scan daily with no scan in the last
-- COVIDSYNC_SILENT_VENUE_DAYS days (venue data is not personal).
create table mart.silent_venue (
    as_of_day date not null,
    district_code text not null,
    commune_code text,
    venue_code text not null,
    venue_type text not null,
    name text,
    location text,
    last_scan_day date,
    silent_days integer not null,
    primary key (as_of_day, venue_code)
);
comment on table mart.silent_venue is 'Venues of type agency, business, school, market or transport without a scan for at least COVIDSYNC_SILENT_VENUE_DAYS days up to as_of_day.';
comment on column mart.silent_venue.location is 'The venue''s address as registered (venue data, not personal).';
comment on column mart.silent_venue.silent_days is 'Days in a row without a scan up to as_of_day (as_of_day - last_scan_day; since the first day with check-ins when never scanned).';

-- Scanning by the population per day and district of the venue: distinct pseudonymous persons, and the
-- share of each QR kind.
create table mart.population_scanning (
    day date not null,
    district_code text not null,
    persons_scanned integer not null,
    population integer,
    persons_share_population numeric(7, 4),
    scans integer not null,
    scans_card_qr integer not null,
    scans_personal_qr integer not null,
    scans_typed integer not null,
    scans_kind_unknown integer not null,
    share_card_qr numeric(7, 4),
    share_personal_qr numeric(7, 4),
    share_typed numeric(7, 4),
    primary key (day, district_code)
);
comment on table mart.population_scanning is 'Distinct persons (pseudonymous keys) scanned per day and venue district over its population, and the shares of CCCD QR, personal QR (Decision 1405) and typed keys among the scans whose kind is known.';
