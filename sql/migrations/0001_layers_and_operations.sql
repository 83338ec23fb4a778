-- The layers of the warehouse, and the operations schema that tracks files, runs, validations and alerts.
-- Data flows one way: landing (files) -> staging -> quarantine | core -> derived -> publish -> mart.

create schema if not exists staging;
comment on schema staging is 'Raw rows of one batch as parsed from a file or API pull, all text; replaced whole per batch.';
create schema if not exists quarantine;
comment on schema quarantine is 'Rows that broke a contract rule (errors), with their codes, row number and masked raw row.';
create schema if not exists core;
comment on schema core is 'Validated, merged records: one row per real-world record, each knowing its source file and row.';
create schema if not exists derived;
comment on schema derived is 'Computed from core: persons (identity resolution), health status, contact candidates.';
create schema if not exists publish;
comment on schema publish is 'Numbered, immutable releases and the views PC-Covid and VNeID read.';
create schema if not exists mart;
comment on schema mart is 'Aggregates for BI analysts, pseudonymous keys only, no personal data.';
comment on schema ops is 'Operations: facility registry, landing files and their status, runs, validation results, alerts.';

-- One row per registered health facility (from <landing>/registry/facilities.csv).
create table ops.facility (
    facility_code text primary key check (facility_code ~ '^[0-9]{5}$'),
    name text not null,
    facility_type text not null,
    province_code text not null check (province_code ~ '^[0-9]{2}$'),
    district_code text check (district_code ~ '^[0-9]{3}$'),
    commune_code text check (commune_code ~ '^[0-9]{5}$'),
    registry_sha256 text not null,
    registered_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);
comment on table ops.facility is 'One row per health facility allowed to send data; loaded from the registry file.';

-- One row per file (or API batch) the pipeline has seen. Status moves
-- received -> staged -> validated -> merged | rejected | held; a second copy of the same bytes is 'duplicate'.
create table ops.landing_file (
    file_id bigint generated always as identity primary key,
    sha256 text not null check (sha256 ~ '^[0-9a-f]{64}$'),
    source text not null default 'file' check (source in ('file', 'api')),
    relative_path text not null,
    original_name text not null,
    facility_code text,
    dataset text,
    size_bytes bigint not null check (size_bytes >= 0),
    received_at timestamptz not null,
    registered_at timestamptz not null default now(),
    status text not null default 'received' check (
        status in ('received', 'staged', 'validated', 'merged', 'rejected', 'held', 'duplicate')
    ),
    file_codes text[] not null default '{}',
    duplicate_of bigint references ops.landing_file (file_id),
    rows_total integer,
    rows_loaded integer,
    rows_rejected integer,
    rows_with_warnings integer,
    final_path text,
    updated_at timestamptz not null default now(),
    check ((status = 'duplicate') = (duplicate_of is not null))
);
comment on table ops.landing_file is 'One row per file or API batch received; the same bytes are loaded once (unique sha256 among originals).';
create unique index landing_file_sha256_original on ops.landing_file (sha256) where duplicate_of is null;
create index landing_file_status on ops.landing_file (status);
create index landing_file_facility on ops.landing_file (facility_code, dataset, received_at);

-- Every status change of a file, with who did it and why (an operator's release needs a reason).
create table ops.file_event (
    event_id bigint generated always as identity primary key,
    file_id bigint not null references ops.landing_file (file_id),
    at timestamptz not null default now(),
    from_status text,
    to_status text not null,
    actor text not null default 'pipeline',
    reason text
);
create index file_event_file on ops.file_event (file_id, at);

-- One row per DAG run step that did work (who ran what, for which interval, with what outcome).
create table ops.pipeline_run (
    dag_id text not null,
    run_id text not null,
    task_id text not null,
    map_index integer not null default -1,
    data_interval_start timestamptz,
    data_interval_end timestamptz,
    started_at timestamptz not null default now(),
    finished_at timestamptz,
    state text not null default 'running' check (state in ('running', 'success', 'failed')),
    stats jsonb not null default '{}',
    primary key (dag_id, run_id, task_id, map_index)
);

-- Outcome of each Great Expectations validation: statistics and per-expectation outcomes, never rows.
create table ops.validation_result (
    validation_id bigint generated always as identity primary key,
    file_id bigint references ops.landing_file (file_id),
    suite text not null,
    success boolean not null,
    evaluated integer not null,
    failed integer not null,
    results jsonb not null,
    validated_at timestamptz not null default now()
);
create index validation_result_file on ops.validation_result (file_id);

-- Alerts raised by monitoring and reconciliation; open until resolved.
create table ops.alert (
    alert_id bigint generated always as identity primary key,
    raised_at timestamptz not null default now(),
    kind text not null,
    subject text not null,
    message text not null,
    resolved_at timestamptz
);
create index alert_open on ops.alert (kind, subject) where resolved_at is null;
