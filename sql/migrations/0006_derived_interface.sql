-- The derived layer's interface: one person across sources, their deduplicated doses, their health status
-- under a rule set, and contact candidates. Identity resolution and the status build write these tables;
-- publish and the marts read them. The build's own working tables come in a later migration.

-- One row per resolved person. person_key is the pseudonymous key the marts and logs may show.
create table derived.person (
    person_id bigint generated always as identity primary key,
    person_key text not null unique check (person_key ~ '^[0-9a-f]{64}$'),
    citizen_id text check (citizen_id ~ '^[0-9]{12}$'),
    cmnd text check (cmnd ~ '^[0-9]{9}$'),
    qid text,
    full_name text,
    name_key text,
    date_of_birth date,
    birth_year_only boolean not null default false,
    gender text check (gender in ('male', 'female')),
    phone text,
    province_code text,
    district_code text,
    commune_code text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);
comment on table derived.person is 'One row per resolved person; person_key (pseudonymous, stable) is the only key marts may carry.';
create unique index person_citizen_id on derived.person (citizen_id) where citizen_id is not null;

-- One row per identifier of a person (a person has several: CCCD, CMND, QID, phones), with its pseudonym so
-- that check-ins (which carry only pseudonyms) join to persons.
create table derived.person_identifier (
    kind text not null check (kind in ('cccd', 'cmnd', 'qid', 'phone')),
    value text not null,
    identity_key text not null,
    person_id bigint not null references derived.person (person_id),
    primary key (kind, value)
);
comment on table derived.person_identifier is 'One row per identifier value, the person it resolved to, and its pseudonym (as core.checkin.person_key).';
create index person_identifier_key on derived.person_identifier (identity_key);
create index person_identifier_person on derived.person_identifier (person_id);

-- One row per (person, dose number) after deduplication across facilities (health-status contract §2).
create table derived.vaccination_dose (
    person_id bigint not null references derived.person (person_id),
    dose_number integer not null check (dose_number between 1 and 4),
    vaccinated_on date not null,
    product_code text not null references core.vaccine_product (product_code),
    facility_code text not null,
    vaccination_id bigint not null,
    reported_by integer not null default 1,
    primary key (person_id, dose_number)
);
comment on table derived.vaccination_dose is 'One row per person and dose number (earliest record wins); vaccination_id is the core record behind it.';

-- One row per person and rule set: the status as of the end of a local day (contract §1-§5).
create table derived.health_status (
    rule_set text not null,
    person_id bigint not null references derived.person (person_id),
    as_of timestamptz not null,
    doses integer not null default 0,
    last_dose_on date,
    last_dose_product text,
    primary_doses integer,
    primary_complete boolean not null default false,
    last_primary_dose_on date,
    booster_doses integer not null default 0,
    fully_vaccinated boolean not null default false,
    latest_test_type text check (latest_test_type in ('RT-PCR', 'antigen')),
    latest_test_result text check (latest_test_result in ('positive', 'negative', 'invalid', 'pooled_positive')),
    latest_test_sampled_at timestamptz,
    f0 boolean not null default false,
    f0_since timestamptz,
    recovered_on date,
    contact_candidate boolean not null default false,
    card_colour text not null check (card_colour in ('green', 'yellow', 'red')),
    computed_at timestamptz not null default now(),
    primary key (rule_set, person_id)
);
comment on table derived.health_status is 'One row per person and rule set: the status as of as_of (health-status contract).';

-- One row per (F0, candidate, venue, pair of check-ins) within the F0's transmission window (contract §5).
create table derived.contact_candidate (
    rule_set text not null,
    f0_person_id bigint not null references derived.person (person_id),
    candidate_person_key text not null,
    candidate_person_id bigint references derived.person (person_id),
    venue_code text not null,
    f0_scanned_at timestamptz not null,
    candidate_scanned_at timestamptz not null,
    f0_since timestamptz not null,
    window_end timestamptz not null,
    found_at timestamptz not null default now(),
    primary key (rule_set, f0_person_id, candidate_person_key, venue_code, f0_scanned_at, candidate_scanned_at)
);
comment on table derived.contact_candidate is 'One row per F0, candidate and pair of check-ins at one venue within the window; the evidence for health staff.';
create index contact_candidate_person on derived.contact_candidate (candidate_person_key);
