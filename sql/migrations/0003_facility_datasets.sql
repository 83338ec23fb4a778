-- Vaccinations and test results from facility files: staging (one batch = one file), quarantine, core
-- and the history of replaced core records.

-- Staging: one row per data row of a file, as parsed. raw holds the non-empty cells as sent (canonical
-- column -> text); the typed columns hold what the parser could read (null when absent or unreadable).
-- Unlogged: a batch is replaced whole by a rerun, so it needs no crash safety.
create unlogged table staging.vaccination (
    file_id bigint not null,
    row_number integer not null,
    raw jsonb not null,
    record_id text,
    full_name text,
    date_of_birth date,
    birth_year_only boolean,
    gender text,
    citizen_id text,
    phone text,
    health_insurance_no text,
    province_code text,
    district_code text,
    commune_code text,
    address text,
    vaccine_code text,
    lot_number text,
    dose_number integer,
    vaccinated_on date,
    facility_code text,
    record_key text generated always as (
        coalesce('r:' || record_id, 'n:' || citizen_id || ':' || dose_number::text)
    ) stored,
    primary key (file_id, row_number)
);
comment on table staging.vaccination is 'One row per data row of a vaccinations file being processed; replaced per file.';

create unlogged table staging.test_result (
    file_id bigint not null,
    row_number integer not null,
    raw jsonb not null,
    record_id text,
    sample_id text,
    full_name text,
    date_of_birth date,
    birth_year_only boolean,
    gender text,
    citizen_id text,
    phone text,
    province_code text,
    district_code text,
    commune_code text,
    test_type text,
    pooled boolean,
    sampled_at timestamptz,
    result text,
    ct_value numeric,
    resulted_at timestamptz,
    facility_code text,
    record_key text generated always as (
        coalesce('r:' || record_id, 'n:' || sample_id || ':' || citizen_id)
    ) stored,
    primary key (file_id, row_number)
);
comment on table staging.test_result is 'One row per data row of a test-results file being processed; replaced per file.';

-- Quarantine: every problem found in a row (errors and warnings), and the rows that were not loaded.
create table quarantine.row_problem (
    file_id bigint not null references ops.landing_file (file_id),
    row_number integer not null,
    column_name text not null,
    code text not null references ops.row_code (code),
    severity text not null check (severity in ('error', 'warning')),
    primary key (file_id, row_number, column_name, code)
);
comment on table quarantine.row_problem is 'One row per (file row, column, code) problem; errors kept the row out of core.';

create table quarantine.rejected_row (
    file_id bigint not null references ops.landing_file (file_id),
    row_number integer not null,
    raw jsonb not null,
    primary key (file_id, row_number)
);
comment on table quarantine.rejected_row is 'Rows not loaded because of an error, as sent (canonical column -> text).';

-- Core: one row per facility record. record_key is the facility's record_id when given, else the
-- natural key (person + dose, person + sample); a resent record replaces the earlier one, which moves
-- to the history table.
create table core.vaccination (
    vaccination_id bigint generated always as identity primary key,
    facility_code text not null references ops.facility (facility_code),
    record_key text not null,
    record_id text,
    full_name text not null,
    date_of_birth date not null,
    birth_year_only boolean not null default false,
    gender text check (gender in ('male', 'female')),  -- null when the sender wrote a word not read as a sex
    citizen_id text not null,
    phone text,
    health_insurance_no text,
    province_code text not null,
    district_code text not null,
    commune_code text not null,
    address text,
    vaccine_code text not null references core.vaccine_product (product_code),
    lot_number text not null,
    dose_number integer not null check (dose_number between 1 and 4),
    vaccinated_on date not null,
    warnings text[] not null default '{}',
    source_file_id bigint not null references ops.landing_file (file_id),
    source_row integer not null,
    loaded_at timestamptz not null default now(),
    unique (facility_code, record_key)
);
comment on table core.vaccination is 'One row per vaccination record of a facility (latest version); source_file_id/source_row say where it came from.';
create index vaccination_person on core.vaccination (citizen_id, vaccinated_on);
create index vaccination_source on core.vaccination (source_file_id);

create table core.vaccination_history (
    like core.vaccination,
    replaced_at timestamptz not null default now(),
    replaced_by_file_id bigint not null references ops.landing_file (file_id)
);
comment on table core.vaccination_history is 'Earlier versions of core.vaccination records, replaced by a resend.';
create index vaccination_history_key on core.vaccination_history (facility_code, record_key);

create table core.test_result (
    test_result_id bigint generated always as identity primary key,
    facility_code text not null references ops.facility (facility_code),
    record_key text not null,
    record_id text,
    sample_id text not null,
    full_name text not null,
    date_of_birth date not null,
    birth_year_only boolean not null default false,
    gender text check (gender in ('male', 'female')),  -- null when the sender wrote a word not read as a sex
    citizen_id text not null,
    phone text,
    province_code text not null,
    district_code text not null,
    commune_code text not null,
    test_type text not null check (test_type in ('RT-PCR', 'antigen')),
    pooled boolean not null default false,
    sampled_at timestamptz not null,
    result text not null check (result in ('positive', 'negative', 'invalid')),
    ct_value numeric check (ct_value between 0 and 45),
    resulted_at timestamptz not null,
    warnings text[] not null default '{}',
    source_file_id bigint not null references ops.landing_file (file_id),
    source_row integer not null,
    loaded_at timestamptz not null default now(),
    unique (facility_code, record_key)
);
comment on table core.test_result is 'One row per (tube, person) test result of a facility (latest version); pooled tubes have one row per member.';
create index test_result_person on core.test_result (citizen_id, sampled_at);
create index test_result_sample on core.test_result (sample_id);
create index test_result_source on core.test_result (source_file_id);

create table core.test_result_history (
    like core.test_result,
    replaced_at timestamptz not null default now(),
    replaced_by_file_id bigint not null references ops.landing_file (file_id)
);
comment on table core.test_result_history is 'Earlier versions of core.test_result records, replaced by a resend.';
create index test_result_history_key on core.test_result_history (facility_code, record_key);

-- The staged rows free of errors: what a merge loads.
create view staging.vaccination_loadable as
select s.*
from staging.vaccination as s
where not exists (
    select 1 from quarantine.row_problem as q
    where q.file_id = s.file_id and q.row_number = s.row_number and q.severity = 'error'
);
comment on view staging.vaccination_loadable is 'Staged vaccination rows with no error (warnings allowed).';

create view staging.test_result_loadable as
select s.*
from staging.test_result as s
where not exists (
    select 1 from quarantine.row_problem as q
    where q.file_id = s.file_id and q.row_number = s.row_number and q.severity = 'error'
);
comment on view staging.test_result_loadable is 'Staged test-result rows with no error (warnings allowed).';
