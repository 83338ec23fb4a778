-- Arrivals into the province and their follow-up (contract docs/contract/arrivals.md §2-§3, rule set
-- hb-arrivals-2021-11): the derived tables the status build writes (covidsync.status.arrivals), the commune
-- work list under row-level security (role commune_health, ops.commune_access), and the arrivals marts.
-- The inputs (core.declaration, the national admin units, ref.risk_level, ref.arrival_measure) are 0025's.

-- One row per arrival (a journey: scans under 24 h apart, and the movement declaration that joins it), under
-- the health-status rule set whose status gave the category. arrival_key is deterministic (a hash of the
-- person's key and the journey's first event), so a full rebuild and an incremental one give the same rows.
create table derived.arrival (
    rule_set text not null,
    arrival_key text not null,
    person_key text,
    person_id bigint,
    arrived_at timestamptz not null,
    arrival_day date not null,
    seen_by text not null check (seen_by in ('scan', 'declaration', 'both')),
    checkpoint_venue_code text,
    scans integer not null default 0,
    declaration_id text,
    declaration_app text,
    travel_date date,
    origin_province_code text,
    origin_district_code text,
    origin_commune_code text,
    origin_known boolean not null,
    origin_level integer not null check (origin_level between 1 and 4),
    origin_level_area text,
    destination_commune_code text,
    destination_district_code text,
    category text not null check (category in ('recovered', 'fully_vaccinated', 'not_fully_vaccinated')),
    measure text not null check (measure in ('self_monitoring', 'home_quarantine', 'concentrated_quarantine')),
    days integer not null check (days >= 1),
    ends_on date not null,
    test_days integer[] not null default '{}',
    positive_sampled_at timestamptz,
    symptoms_reported boolean not null default false,
    reported_contact_with_f0 boolean not null default false,
    arrival_rule_set text not null,
    measures_version text,
    risk_level_version text,
    primary key (rule_set, arrival_key)
);
comment on table derived.arrival is 'One row per arrival into Hòa Bình (arrivals contract §2-§3): how it was seen, origin and its level on the travel date, category, measure, and the versions that decided it.';
create index arrival_person on derived.arrival (rule_set, person_key);
create index arrival_person_id on derived.arrival (rule_set, person_id);
create index arrival_day on derived.arrival (rule_set, arrival_day);

-- One row per arrival and due test day (contract §2): sampled on the due day or the day after, the result,
-- overdue once as_of is past the end of the day after.
create table derived.arrival_followup (
    rule_set text not null,
    arrival_key text not null,
    test_day integer not null check (test_day >= 1),
    due_on date not null,
    sampled boolean not null,
    sampled_at timestamptz,
    test_result_id bigint,
    result text,
    overdue boolean not null,
    primary key (rule_set, arrival_key, test_day),
    foreign key (rule_set, arrival_key) references derived.arrival (rule_set, arrival_key) on delete cascade
);
comment on table derived.arrival_followup is 'One row per arrival and due test day: sampled (day or day after), result, overdue (arrivals contract §2-§3).';
create index arrival_followup_due on derived.arrival_followup (rule_set, due_on);

-- What the last arrivals build saw, so that the next recomputes only the arrivals a change reaches.
create table derived.arrival_build_state (
    rule_set text primary key,
    as_of timestamptz not null,
    watermark timestamptz not null,
    registry_state text not null,
    mode text not null check (mode in ('full', 'incremental')),
    arrivals integer not null,
    touched integer not null,
    built_at timestamptz not null default now()
);
comment on table derived.arrival_build_state is 'One row per rule set: as_of, load watermark and registry versions of the last arrivals build.';

-- An incremental build finds the declarations that as_of moving makes visible by their submission time.
create index declaration_submitted on core.declaration (submitted_at);

-- The arrival measure in force per person (the latest arrival whose measure has not ended by the local date of
-- the last arrivals build's as_of): what the Sổ SKĐT view's arrival_measure / arrival_measure_ends_on show
-- (health-status contract §7); publish joins it by person_id.
create view derived.person_arrival_measure as
select distinct on (a.rule_set, a.person_id)
    a.rule_set,
    a.person_id,
    a.measure,
    a.ends_on,
    a.arrival_key
from derived.arrival as a
inner join derived.arrival_build_state as s on a.rule_set = s.rule_set
where a.person_id is not null and a.ends_on >= (s.as_of at time zone 'Asia/Ho_Chi_Minh')::date
order by a.rule_set asc, a.person_id asc, a.arrived_at desc;
comment on view derived.person_arrival_measure is 'Per rule set and person: the measure of the latest arrival still in force as of the last build (for publish.sskdt_health_status.arrival_measure).';

-- Which communes a login of a commune health station reads (covidsync communes grant/revoke).
create table ops.commune_access (
    login text not null,
    commune_code text not null check (commune_code ~ '^[0-9]{5}$'),
    granted_by text not null,
    granted_at timestamptz not null default now(),
    primary key (login, commune_code)
);
comment on table ops.commune_access is 'One row per (login, commune): the commune work lists the login may read (publish.commune_arrival_followup, row-level security).';

-- The communes of the session's login: the policy's test, run with the definer's rights so that a commune
-- login needs no access to ops.commune_access itself.
create function ops.my_communes() returns setof text
language sql stable security definer set search_path = pg_catalog as $$
    select commune_code from ops.commune_access where login = session_user
$$;
revoke all on function ops.my_communes() from public;

-- The work list rows (personal data: name, phone), one per arrival, written by the arrivals build. Row-level
-- security: a reader sees the rows of its communes only; the owner (the pipeline) and superusers read all.
create table publish.commune_arrival_row (
    rule_set text not null,
    arrival_key text not null,
    commune_code text not null,
    district_code text,
    full_name text,
    phone text,
    arrived_at timestamptz not null,
    seen_by text not null,
    checkpoint_venue_code text,
    origin text not null,
    origin_level integer not null,
    category text not null,
    measure text not null,
    days integer not null,
    ends_on date not null,
    due_days date[] not null,
    sampled_days date[] not null,
    overdue_days date[] not null,
    positive_sampled_at timestamptz,
    symptoms_reported boolean not null,
    reported_contact_with_f0 boolean not null,
    needs_declaration boolean not null,
    primary key (rule_set, arrival_key)
);
comment on table publish.commune_arrival_row is 'The commune work list rows (personal data), one per arrival; row-level security by ops.commune_access; read through publish.commune_arrival_followup.';
create index commune_arrival_row_commune on publish.commune_arrival_row (commune_code, ends_on);

-- The as_of of the rows above (one row per rule set), so that the view shows the open arrivals only.
create table publish.commune_arrival_state (
    rule_set text primary key,
    as_of timestamptz not null
);

alter table publish.commune_arrival_row enable row level security;
create policy commune_rows on publish.commune_arrival_row for select
using (commune_code in (select ops.my_communes()));

-- The view: the open arrivals (ends_on on or after the local date of as_of) of the default rule set.
-- security_invoker: the reader's own rights, so the policy above is the reader's.
create view publish.commune_arrival_followup with (security_invoker = true, security_barrier = true) as
select
    r.commune_code,
    r.district_code,
    r.full_name,
    r.phone,
    r.arrived_at,
    r.seen_by,
    r.checkpoint_venue_code,
    r.origin,
    r.origin_level,
    r.category,
    r.measure,
    r.days,
    r.ends_on,
    r.due_days,
    r.sampled_days,
    r.overdue_days,
    r.positive_sampled_at,
    r.symptoms_reported,
    r.reported_contact_with_f0,
    r.needs_declaration,
    s.as_of,
    r.arrival_key
from publish.commune_arrival_row as r
inner join publish.commune_arrival_state as s on r.rule_set = s.rule_set
where r.ends_on >= (s.as_of at time zone 'Asia/Ho_Chi_Minh')::date;
comment on view publish.commune_arrival_followup is 'Commune work list: open arrivals of the reader''s communes only (row-level security; arrivals contract §3).';

do $$
begin
    if not exists (select from pg_catalog.pg_roles where rolname = 'commune_health') then
        create role commune_health nologin;
    end if;
exception when duplicate_object or unique_violation then
    null;  -- another database's migration created it at the same moment
end
$$;

grant usage on schema publish to commune_health;
grant select on publish.commune_arrival_followup, publish.commune_arrival_row, publish.commune_arrival_state
to commune_health;
grant execute on function ops.my_communes() to commune_health;

-- Marts (no personal data): arrivals per day and dimension, declaration coverage per checkpoint and day,
-- follow-up compliance per commune and week, symptom and contact flags per day.
create table mart.arrival_day (
    day date not null,
    origin_level integer not null,
    origin_province_code text not null,
    destination_district_code text not null,
    destination_commune_code text not null,
    measure text not null,
    seen_by text not null,
    arrivals integer not null,
    primary key (
        day, origin_level, origin_province_code, destination_district_code, destination_commune_code, measure, seen_by
    )
);
comment on table mart.arrival_day is 'Arrivals per local day by origin level, origin province (unknown: ''unknown''), destination district and commune, measure and how seen.';

create table mart.arrival_declaration_coverage (
    venue_code text not null,
    district_code text,
    day date not null,
    arrival_scans integer not null,
    with_declaration integer not null,
    coverage numeric,
    primary key (venue_code, day)
);
comment on table mart.arrival_declaration_coverage is 'Per checkpoint and day: journeys scanned in, those with a movement declaration, and the share.';

create table mart.arrival_followup_week (
    commune_code text not null,
    district_code text,
    week date not null,
    due_tests integer not null,
    sampled integer not null,
    overdue integer not null,
    compliance numeric,
    primary key (commune_code, week)
);
comment on table mart.arrival_followup_week is 'Per destination commune and ISO week (Monday) of the due date: due tests, sampled, overdue, compliance.';

create table mart.arrival_flag_day (
    day date not null,
    health_declarations integer not null,
    symptoms_reported integer not null,
    reported_contact_with_f0 integer not null,
    primary key (day)
);
comment on table mart.arrival_flag_day is 'Per local day of submission: health declarations, those reporting a symptom, those reporting contact with an F0.';

grant select on mart.arrival_day, mart.arrival_declaration_coverage, mart.arrival_followup_week,
mart.arrival_flag_day to bi_reader;
