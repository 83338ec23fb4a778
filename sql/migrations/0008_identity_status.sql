-- The working tables of identity resolution and the health-status build (build_health_status): the record
-- behind each person, the review queue and the decisions operators took on it, F0 episodes, the evidence
-- columns `covidsync explain` reads, and the build's watermarks. The interface tables are in 0006.

-- A name's match key, as covidsync.domain.text.name_key: marks stripped (NFD first, so that it does not
-- depend on the database's locale), đ/Đ/Ð -> d, lower case, one space between words.
create function derived.name_key(name text) returns text
language sql immutable parallel safe as $$
    select nullif(btrim(regexp_replace(lower(regexp_replace(
        translate(normalize(name, nfd), 'ĐđÐð', 'dddd'), '[\u0300-\u036f]', '', 'g'
    )), '\s+', ' ', 'g')), '')
$$;
comment on function derived.name_key(text) is 'Name match key: NFD, marks stripped, đ->d, lower case, spaces collapsed.';

-- One row per facility record (vaccination or test result) and the person it was resolved to.
create table derived.person_record (
    source text not null check (source in ('vaccination', 'test_result')),
    record_id bigint not null,
    person_id bigint not null references derived.person (person_id),
    primary key (source, record_id)
);
comment on table derived.person_record is 'One row per core vaccination/test record and the person it belongs to (identity resolution).';
create index person_record_person on derived.person_record (person_id, source);

-- One row per decision an operator took on a review item: a pair of identifiers (or an identifier and a
-- birth date, other_kind = 'dob') that are the same person (merge) or not (distinct). Never rebuilt.
create table derived.identity_decision (
    decision_id bigint generated always as identity primary key,
    kind text not null check (kind in ('cccd', 'cmnd', 'qid', 'phone')),
    value text not null,
    other_kind text not null check (other_kind in ('cccd', 'cmnd', 'qid', 'phone', 'dob')),
    other_value text not null,
    decision text not null check (decision in ('merge', 'distinct')),
    reason text not null,
    decided_by text not null,
    decided_at timestamptz not null default now(),
    unique (kind, value, other_kind, other_value)
);
comment on table derived.identity_decision is 'One row per review decision (merge / distinct) on a pair of identifiers; respected by every rebuild.';

-- One row per identity conflict the rules would not settle: rebuilt by every run from the data and the
-- decisions (status decided once every candidate of the item has a decision).
create table derived.identity_review (
    review_key text primary key,
    kind text not null check (kind in ('birth_date_conflict', 'link_conflict', 'shared_phone')),
    subject_kind text not null,
    subject_value text not null,
    candidates jsonb not null,
    status text not null check (status in ('open', 'decided')),
    found_at timestamptz not null default now()
);
comment on table derived.identity_review is 'One row per identity conflict (open or decided): what a person must decide with covidsync review.';

-- One row per F0 episode of a person under a rule set, as of the build's as_of (contract §3).
create table derived.f0_episode (
    rule_set text not null,
    person_id bigint not null references derived.person (person_id),
    f0_since timestamptz not null,
    f0_test_id bigint not null,
    path text not null check (path in ('rt_pcr', 'antigen_pair', 'antigen_contact')),
    window_end timestamptz not null,
    recovered_at timestamptz not null,
    recovery_test_id bigint,
    primary key (rule_set, person_id, f0_since)
);
comment on table derived.f0_episode is 'One row per F0 episode (start, the test behind it, recovery) of a person under a rule set.';

-- Evidence for `covidsync explain`: which core record is behind each status field.
alter table derived.health_status
add column last_dose_vaccination_id bigint,
add column latest_test_id bigint,
add column f0_test_id bigint,
add column recovery_test_id bigint;

create index contact_candidate_candidate on derived.contact_candidate (rule_set, candidate_person_id, candidate_scanned_at);

-- One row per rule set: what the last build saw, so that the next one recomputes only what changed.
create table derived.build_state (
    rule_set text primary key,
    rule_set_version integer not null,
    as_of timestamptz not null,
    checkin_watermark timestamptz,
    record_watermark timestamptz,
    mode text not null check (mode in ('full', 'incremental')),
    persons integer not null,
    touched integer not null,
    built_at timestamptz not null default now()
);
comment on table derived.build_state is 'One row per rule set: the as_of and check-in watermark of its last health-status build.';

-- New check-ins since the last build are found by loaded_at (BRIN: cheap to keep on an append-only table);
-- facility records changed in place since the last build too.
create index checkin_loaded_at on core.checkin using brin (loaded_at);
create index vaccination_loaded_at on core.vaccination (loaded_at);
create index test_result_loaded_at on core.test_result (loaded_at);
