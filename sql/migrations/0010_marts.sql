-- BI marts (schema mart): aggregates and pseudonymous keys only, never a name, an ID number or a phone.
-- Every mart is rebuilt whole by `refresh_marts` (sql/marts/<table>.sql: delete, then insert, in one
-- transaction), so a refresh is idempotent. Facility scorecards and the monitoring of facility reporting
-- (DHIS2-style completeness and timeliness) live here too, with their alerts in ops.alert.

-- The role analysts' tools log in through (or are granted): reads schema mart only. Roles are cluster-wide
-- and several databases share a server (issue 8's migration creates it as well), so create it idempotently.
do $$
begin
    if not exists (select 1 from pg_roles where rolname = 'bi_reader') then
        create role bi_reader nologin;
    end if;
exception when duplicate_object or unique_violation then
    null;  -- another database's migration created it at the same moment
end
$$;

-- Population denominators. The 2021 administrative list the project ships has no population figures, so this
-- table starts with the one figure whose source is documented: the province's census count. Districts and
-- communes have coverage_pct null until an operator loads their figures here (docs/data-dictionary.md).
create table mart.population (
    area_level text not null check (area_level in ('province', 'district', 'commune')),
    area_code text not null,
    population integer not null check (population > 0),
    reference_year integer not null,
    source text not null,
    primary key (area_level, area_code)
);
comment on table mart.population is 'One row per area with a population denominator for coverage (census or official estimate; source says which).';

insert into mart.population (area_level, area_code, population, reference_year, source)
values (
    'province', '17', 854131, 2019,
    'GSO, Completed results of the 2019 Viet Nam Population and Housing Census (population on 1 April 2019)'
);

-- One row per area (province, district or commune of the person's residence), day, dose number and vaccine
-- product ('all' = every product), from derived.vaccination_dose (one row per person and dose).
create table mart.vaccination_coverage (
    area_level text not null check (area_level in ('province', 'district', 'commune')),
    area_code text not null,
    area_name text,
    day date not null,
    dose_number integer not null,
    product_code text not null,
    doses_given integer not null,
    people_cumulative integer not null,
    population integer,
    coverage_pct numeric(7, 2),
    primary key (area_level, area_code, day, dose_number, product_code)
);
comment on table mart.vaccination_coverage is 'Doses given per area, day, dose number and product (''all'' = any), people with that dose so far, and coverage against mart.population.';
comment on column mart.vaccination_coverage.people_cumulative is 'People of the area with this dose number (of this product) given on or before day.';
comment on column mart.vaccination_coverage.coverage_pct is '100 * people_cumulative / population; null where mart.population has no figure for the area.';

-- One row per district (of the tested person), local day of sampling and test type.
create table mart.test_positivity (
    province_code text not null,
    district_code text not null,
    day date not null,
    test_type text not null,
    tests integer not null,
    positive integer not null,
    negative integer not null,
    invalid integer not null,
    positivity_pct numeric(7, 2),
    primary key (district_code, day, test_type)
);
comment on table mart.test_positivity is 'Test results per district, local day of sampling and test type; positivity = positive / (positive + negative).';
comment on column mart.test_positivity.tests is 'Results (one per tube and person: a pooled tube counts once per member).';

-- One row per venue type, venue district, local day and local hour.
create table mart.checkin_volume (
    venue_type text not null,
    district_code text not null,
    day date not null,
    hour integer not null check (hour between 0 and 23),
    checkins integer not null,
    persons integer not null,
    primary key (venue_type, district_code, day, hour)
);
comment on table mart.checkin_volume is 'PC-Covid check-ins (direction in) per venue type, venue district, local day and hour; ''unknown'' where the venue does not say.';
comment on column mart.checkin_volume.persons is 'Distinct pseudonymous person keys in the cell.';

-- One row per rule set, local day of the candidate's check-in and venue district.
create table mart.contact_candidate_count (
    rule_set text not null,
    day date not null,
    district_code text not null,
    f0_persons integer not null,
    candidates integer not null,
    exposures integer not null,
    primary key (rule_set, day, district_code)
);
comment on table mart.contact_candidate_count is 'Contact candidates per rule set, local day of exposure and venue district: F0s, distinct candidates, exposure pairs.';

-- One row per rule set, as_of, card colour, F0 flag and full vaccination.
create table mart.status_distribution (
    rule_set text not null,
    as_of timestamptz not null,
    card_colour text not null,
    f0 boolean not null,
    fully_vaccinated boolean not null,
    persons integer not null,
    primary key (rule_set, as_of, card_colour, f0, fully_vaccinated)
);
comment on table mart.status_distribution is 'Persons per health-status outcome, per rule set and as_of (from derived.health_status until publish.release exists; then per release).';

-- Facility reporting, in the manner of DHIS2: one expected report per registered facility per local day.
create table mart.facility_reporting_day (
    facility_code text not null,
    day date not null,
    district_code text,
    expected integer not null,
    received integer not null,
    on_time integer not null,
    first_received_at timestamptz,
    cutoff time not null,
    files integer not null,
    files_rejected integer not null,
    files_held integer not null,
    duplicate_files integer not null,
    duplicate_rows integer not null,
    rows_total integer not null,
    rows_loaded integer not null,
    rows_rejected integer not null,
    rows_with_warnings integer not null,
    rejection_rate numeric(7, 4),
    primary key (facility_code, day)
);
comment on table mart.facility_reporting_day is 'One row per facility and local day it was expected to report: reports received, on time (before cutoff), rows loaded and rejected, duplicates.';
comment on column mart.facility_reporting_day.received is '1 when at least one file (not a duplicate copy) of the facility arrived that local day.';
comment on column mart.facility_reporting_day.on_time is '1 when a file arrived that day at or before the cut-off (COVIDSYNC_REPORTING_CUTOFF, local time).';
comment on column mart.facility_reporting_day.rejection_rate is 'rows_rejected / rows_total (null when no rows).';

-- One row per facility, local day and row error code.
create table mart.facility_rejection_day (
    facility_code text not null,
    day date not null,
    code text not null,
    rows_affected integer not null,
    rows_total integer not null,
    rate numeric(7, 4),
    primary key (facility_code, day, code)
);
comment on table mart.facility_rejection_day is 'Rows rejected per facility, local day and error code, and their share of the rows sent that day.';

-- One row per facility and month.
create table mart.facility_reporting_month (
    facility_code text not null,
    month date not null,
    expected integer not null,
    received integer not null,
    on_time integer not null,
    completeness_pct numeric(6, 2) not null,
    timeliness_pct numeric(6, 2) not null,
    rows_total integer not null,
    rows_rejected integer not null,
    rejection_rate numeric(7, 4),
    grade text not null check (grade in ('A', 'B', 'C', 'D')),
    primary key (facility_code, month)
);
comment on table mart.facility_reporting_month is 'Monthly facility scorecard: completeness, timeliness, rejection rate and a grade A-D (rule in docs/data-dictionary.md).';

-- Alerts are sent once: the notifier stamps what it delivered.
alter table ops.alert add column if not exists notified_at timestamptz;
comment on column ops.alert.notified_at is 'When the alert notifier delivered it (webhook); null while not yet sent.';

grant usage on schema mart to bi_reader;
grant select on all tables in schema mart to bi_reader;
alter default privileges in schema mart grant select on tables to bi_reader;
