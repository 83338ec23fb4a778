-- Facility and lab APIs (contract §8): the registry of sources, with each source's watermark, and the
-- batches pulled from them. A batch is also a row of ops.landing_file (source = 'api') and goes through
-- the same pipeline as a file; the rows here say which source and which window it came from.

-- One row per (facility, dataset) served by an API; managed with `covidsync sources add|list`.
create table ops.api_source (
    source_id integer generated always as identity primary key,
    facility_code text not null references ops.facility (facility_code),
    dataset text not null check (dataset in ('vaccinations', 'test_results')),
    base_url text not null check (base_url ~ '^https?://'),
    conn_id text not null check (conn_id ~ '^[A-Za-z0-9_.-]+$'),
    page_size integer not null default 500 check (page_size between 1 and 1000),
    enabled boolean not null default true,
    watermark timestamptz,
    watermark_file_id bigint references ops.landing_file (file_id),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    unique (facility_code, dataset)
);
comment on table ops.api_source is 'One row per facility API endpoint (facility, dataset); the token is the password of the Airflow connection conn_id.';
comment on column ops.api_source.watermark is 'The largest updated_at of the batches of this source that merged; the next pull asks for updated_since = watermark.';
comment on column ops.api_source.watermark_file_id is 'The batch (ops.landing_file) that last advanced the watermark.';

-- One row per API batch: which source, which window, how many items and pages.
create table ops.api_batch (
    file_id bigint primary key references ops.landing_file (file_id),
    source_id integer not null references ops.api_source (source_id),
    updated_since timestamptz,
    max_updated_at timestamptz,
    items integer not null check (items >= 0),
    pages integer not null check (pages >= 0),
    pulled_at timestamptz not null default now()
);
comment on table ops.api_batch is 'One row per pull of an API source that returned records; file_id is its row in ops.landing_file.';
comment on column ops.api_batch.updated_since is 'The watermark the pull asked from (exclusive); null for a first pull.';
comment on column ops.api_batch.max_updated_at is 'The largest updated_at among the batch''s items: the watermark once the batch has merged.';
create index api_batch_source on ops.api_batch (source_id, file_id);
