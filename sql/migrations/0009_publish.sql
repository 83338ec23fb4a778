-- The publish layer: numbered, immutable releases of the health status, the two views PC-Covid and VNeID
-- read (contract docs/contract/health-status.md §6), per-release deltas for incremental sync, the apps'
-- acknowledgements, and the reader roles.

-- One row per release (contract §6: exactly these columns). is_current marks the one release both views
-- show; making another current happens in one transaction, with the agreement check of the two views.
create table publish.release (
    release_id bigint primary key,
    created_at timestamptz not null default now(),
    as_of timestamptz not null,
    row_count integer not null check (row_count >= 0),
    content_sha256 text not null check (content_sha256 ~ '^[0-9a-f]{64}$'),
    is_current boolean not null default false,
    views_agree boolean,
    agreement_mismatches integer
);
comment on table publish.release is 'One row per release: its size, content hash, whether it is the current one, and the result of the agreement check of the two views (null: not checked yet).';
create unique index release_one_current on publish.release (is_current) where is_current;

-- One row per release: what the pipeline needs beside the contract's columns.
create table publish.release_meta (
    release_id bigint primary key references publish.release (release_id),
    rule_set text not null,
    source_watermark timestamptz,
    previous_release_id bigint references publish.release (release_id),
    status text not null default 'candidate' check (
        status in ('candidate', 'current', 'superseded', 'held', 'discarded')
    ),
    published_at timestamptz,
    rows_added integer not null default 0,
    rows_changed integer not null default 0,
    rows_removed integer not null default 0,
    status_changed integer not null default 0,
    pccovid_sha256 text,
    vneid_sha256 text,
    gate jsonb not null default '{}',
    held_reason text,
    pruned_at timestamptz
);
comment on table publish.release_meta is 'One row per release: rule set, source watermark, previous published release, lifecycle, delta counts, per-view hashes, gate results.';

-- One row per release and person with a CCCD: the immutable snapshot both views read. No foreign key to
-- publish.release: its per-row trigger would cost more than the insert (the publisher writes both, in one
-- transaction, and never deletes a release row).
create table publish.release_row (
    release_id bigint not null,
    citizen_id text not null check (citizen_id ~ '^[0-9]{12}$'),
    phone text,
    doses integer not null,
    last_dose_on date,
    last_dose_product text,
    fully_vaccinated boolean not null,
    card_colour text not null check (card_colour in ('green', 'yellow', 'red')),
    latest_test_type text,
    latest_test_result text,
    latest_test_sampled_at timestamptz,
    f0 boolean not null,
    contact_candidate boolean not null,
    full_name text,
    date_of_birth date,
    vaccination_certificate jsonb not null default '[]',
    row_sha256 text not null,
    primary key (release_id, citizen_id)
);
comment on table publish.release_row is 'One row per release and published person (CCCD known): the snapshot the two views read; never updated.';

-- One row per release and person whose row was added, changed or removed against the previous published
-- release.
create table publish.release_delta (
    release_id bigint not null,
    citizen_id text not null,
    change text not null check (change in ('added', 'changed', 'removed')),
    primary key (release_id, citizen_id)
);
comment on table publish.release_delta is 'One row per release and person added, changed or removed (tombstone) against the previous published release.';

-- One row per recorded override of a mass-change hold (who, why, for which release).
create table publish.release_override (
    release_id bigint primary key references publish.release (release_id),
    actor text not null,
    reason text not null check (length(reason) >= 10),
    recorded_at timestamptz not null default now()
);
comment on table publish.release_override is 'One row per release an operator allowed past the mass-change hold, with who and why.';

-- One row per acknowledgement an app sent: the release it applied and the hash of its copy.
create table publish.app_ack (
    ack_id bigint generated always as identity primary key,
    app text not null check (app in ('pccovid', 'vneid')),
    release_id bigint not null,
    view_sha256 text not null,
    hash_matches boolean not null,
    acked_at timestamptz not null default now()
);
comment on table publish.app_ack is 'One row per acknowledgement: the release an app applied, the hash of its copy, and whether it matched.';
create index app_ack_latest on publish.app_ack (app, acked_at desc);

-- The two views: the current release only, and exactly the contract's columns (§6).
create view publish.pccovid_health_status as
select
    r.release_id,
    r.citizen_id,
    r.phone,
    r.doses,
    r.last_dose_on,
    r.last_dose_product,
    r.fully_vaccinated,
    r.card_colour,
    r.latest_test_type,
    r.latest_test_result,
    r.latest_test_sampled_at,
    r.f0,
    r.contact_candidate,
    c.as_of
from publish.release_row as r
inner join publish.release as c on r.release_id = c.release_id and c.is_current;
comment on view publish.pccovid_health_status is 'PC-Covid: one row per person with a CCCD in the current release (contract §6).';

create view publish.vneid_health_status as
select
    r.release_id,
    r.citizen_id,
    r.doses,
    r.last_dose_on,
    r.last_dose_product,
    r.fully_vaccinated,
    r.card_colour,
    r.latest_test_type,
    r.latest_test_result,
    r.latest_test_sampled_at,
    r.f0,
    c.as_of,
    r.full_name,
    r.date_of_birth,
    r.vaccination_certificate
from publish.release_row as r
inner join publish.release as c on r.release_id = c.release_id and c.is_current;
comment on view publish.vneid_health_status is 'VNeID: one row per person with a CCCD in the current release (contract §6).';

-- Reader roles. Roles are cluster-wide: create each only if missing, and tolerate a concurrent creator
-- (several databases on one server migrate at once in tests). Grants are per database.
do $$
declare
    role_name text;
begin
    foreach role_name in array array['pccovid_reader', 'vneid_reader', 'bi_reader'] loop
        if not exists (select from pg_catalog.pg_roles where rolname = role_name) then
            begin
                execute format('create role %I nologin', role_name);
            exception when duplicate_object or unique_violation then
                null;
            end;
        end if;
    end loop;
end
$$;

grant usage on schema publish to pccovid_reader, vneid_reader;
grant select on publish.pccovid_health_status to pccovid_reader;
grant select on publish.vneid_health_status to vneid_reader;
grant usage on schema mart to bi_reader;
grant select on all tables in schema mart to bi_reader;
alter default privileges in schema mart grant select on tables to bi_reader;
