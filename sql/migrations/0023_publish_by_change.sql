-- Publish by change (issue 19): a release stores only the persons whose published row changed since the
-- previous release (and tombstones), not a whole snapshot. Each stored version of a person's row is valid from
-- the release that introduced it up to (not including) the release that replaced or removed it; the views show,
-- for each person, the version valid at the one current release, so they still show exactly one release and
-- a switch (one is_current flag) stays atomic. A row's hash, certificates and canonical texts are computed
-- once, when the person's inputs change (the triggers below note which persons), not once per release.
--
-- The snapshot tables publish.release_row and publish.release_delta become views of the same names over the
-- versions (same columns): publish.release_row shows each kept release's whole snapshot, as before.

create table publish.release_version (
    citizen_id text not null,
    valid_from bigint not null,
    valid_to bigint,
    change text not null check (change in ('added', 'changed', 'removed')),
    person_id bigint,
    phone text,
    doses integer,
    last_dose_on date,
    last_dose_product text,
    fully_vaccinated boolean,
    card_colour text,
    latest_test_type text,
    latest_test_result text,
    latest_test_sampled_at timestamptz,
    f0 boolean,
    contact_candidate boolean,
    full_name text,
    date_of_birth date,
    vaccination_certificate jsonb,
    sskdt_certificate jsonb,
    test_history jsonb,
    recovered_on date,
    arrival_measure text,
    arrival_measure_ends_on date,
    certificate_text text,
    sskdt_certificate_text text,
    test_history_text text,
    row_sha256 text,
    expires_at timestamptz,
    primary key (citizen_id, valid_from)
);
comment on table publish.release_version is 'One row per version of a published person''s row: valid from release valid_from up to (not including) valid_to (null: still the latest); a tombstone (change removed) has valid_to = valid_from and no values.';
comment on column publish.release_version.change is 'Against the previous published release: added, changed, or removed (a tombstone).';
comment on column publish.release_version.person_id is 'The derived.person the row was built from (to find it again when time alone changes the row).';
comment on column publish.release_version.certificate_text is 'The canonical text of vaccination_certificate (dose:on:product:facility_code joined by ;), for the VNeID view hash.';
comment on column publish.release_version.sskdt_certificate_text is 'The canonical text of sskdt_certificate (with lot_number), for the Sổ SKĐT view hash.';
comment on column publish.release_version.test_history_text is 'The canonical text of test_history, for the Sổ SKĐT view hash.';
comment on column publish.release_version.expires_at is 'The earliest as_of at which time alone may change the row (a test leaving or entering the 90-day history, a dose dated later, the 180-day recovery window); null: never.';

-- the deltas of a release (sync API): the versions it introduced
create index release_version_from on publish.release_version (valid_from);
-- the rows time alone may change at the next release
create index release_version_expiry on publish.release_version (expires_at)
where valid_to is null and expires_at is not null;

-- What the last built release saw, and the persons (and former CCCDs) whose inputs changed since: the next
-- release recomputes only those. full_rebuild: recompute every person (first release, another rule set or set
-- of views, a truncated input table, a migration).
create table publish.build_state (
    singleton boolean primary key default true check (singleton),
    rule_set text,
    with_sskdt boolean,
    as_of timestamptz,
    full_rebuild boolean not null default true
);
comment on table publish.build_state is 'One row: the rule set, views and as_of of the last built release, and whether the next must recompute every person.';
insert into publish.build_state default values;

create table publish.pending_person (
    person_id bigint primary key
);
comment on table publish.pending_person is 'One row per person whose published inputs changed since the last built release (noted by triggers).';

create table publish.pending_citizen (
    citizen_id text primary key
);
comment on table publish.pending_citizen is 'One row per CCCD a person held before a change since the last built release (a correction, a merge): its row may have to be removed.';

-- The triggers: statement-level, set-based (transition tables), noting only rows whose published inputs changed.
-- A statement that changes more than publish.note_limit() persons (a full status build) marks a full rebuild
-- instead: noting a million ids one by one would cost the build more than the release recomputing everyone.
create function publish.note_limit() returns integer
language sql immutable as 'select 100000';

create function publish.note_persons(ids bigint []) returns void
language plpgsql as $$
begin
    if cardinality(ids) > publish.note_limit() then
        update publish.build_state set full_rebuild = true where not full_rebuild;
    elsif cardinality(ids) > 0 then
        insert into publish.pending_person (person_id) select distinct unnest(ids) on conflict do nothing;
    end if;
end
$$;

create function publish.note_changed_persons() returns trigger
language plpgsql as $$
declare
    ids bigint [];
begin
    if (select full_rebuild from publish.build_state) then
        return null;  -- every person is recomputed anyway
    end if;
    if tg_table_name = 'health_status' then
        select array_agg(person_id) into ids from (
            (
                select person_id, rule_set, doses, last_dose_on, last_dose_product, fully_vaccinated, card_colour,
                    latest_test_type, latest_test_result, latest_test_sampled_at, f0, contact_candidate,
                    recovered_on
                from old_rows
                except
                select person_id, rule_set, doses, last_dose_on, last_dose_product, fully_vaccinated, card_colour,
                    latest_test_type, latest_test_result, latest_test_sampled_at, f0, contact_candidate,
                    recovered_on
                from new_rows
            )
            union
            (
                select person_id, rule_set, doses, last_dose_on, last_dose_product, fully_vaccinated, card_colour,
                    latest_test_type, latest_test_result, latest_test_sampled_at, f0, contact_candidate,
                    recovered_on
                from new_rows
                except
                select person_id, rule_set, doses, last_dose_on, last_dose_product, fully_vaccinated, card_colour,
                    latest_test_type, latest_test_result, latest_test_sampled_at, f0, contact_candidate,
                    recovered_on
                from old_rows
            )
        ) as changed;
    elsif tg_table_name = 'person' then
        select array_agg(person_id) into ids from (
            select person_id, citizen_id, phone, full_name, date_of_birth from old_rows
            except
            select person_id, citizen_id, phone, full_name, date_of_birth from new_rows
        ) as changed;
        insert into publish.pending_citizen (citizen_id)
        select citizen_id from (
            select person_id, citizen_id from old_rows where citizen_id is not null
            except
            select person_id, citizen_id from new_rows
        ) as former
        on conflict do nothing;
    elsif tg_table_name = 'vaccination_dose' then
        select array_agg(person_id) into ids from (
            (
                select person_id, dose_number, vaccinated_on, product_code, facility_code, vaccination_id
                from old_rows
                except
                select person_id, dose_number, vaccinated_on, product_code, facility_code, vaccination_id
                from new_rows
            )
            union
            (
                select person_id, dose_number, vaccinated_on, product_code, facility_code, vaccination_id
                from new_rows
                except
                select person_id, dose_number, vaccinated_on, product_code, facility_code, vaccination_id
                from old_rows
            )
        ) as changed;
    elsif tg_table_name = 'person_record' then
        select array_agg(person_id) into ids from (
            (select source, record_id, person_id from old_rows except select source, record_id, person_id from new_rows)
            union
            (select source, record_id, person_id from new_rows except select source, record_id, person_id from old_rows)
        ) as changed;
    elsif tg_table_name = 'vaccination' then  -- core: a lot number (or the record behind a dose) corrected
        select array_agg(d.person_id) into ids
        from (
            select vaccination_id, lot_number from old_rows
            except
            select vaccination_id, lot_number from new_rows
        ) as changed
        inner join derived.vaccination_dose as d on changed.vaccination_id = d.vaccination_id;
    elsif tg_table_name = 'test_result' then  -- core: a test corrected
        select array_agg(r.person_id) into ids
        from (
            select test_result_id, sample_id, test_type, sampled_at, resulted_at, result, pooled, facility_code
            from old_rows
            except
            select test_result_id, sample_id, test_type, sampled_at, resulted_at, result, pooled, facility_code
            from new_rows
        ) as changed
        inner join derived.person_record as r on r.source = 'test_result' and changed.test_result_id = r.record_id;
    end if;
    perform publish.note_persons(coalesce(ids, '{}'));
    return null;
end
$$;
comment on function publish.note_changed_persons() is 'Notes in publish.pending_person the persons whose published inputs a statement changed (publish by change, issue 19).';

create function publish.note_inserted_persons() returns trigger
language plpgsql as $$
begin
    if (select full_rebuild from publish.build_state) then
        return null;
    end if;
    perform publish.note_persons((select array_agg(person_id) from new_rows));
    return null;
end
$$;

create function publish.note_deleted_persons() returns trigger
language plpgsql as $$
begin
    if (select full_rebuild from publish.build_state) then
        return null;
    end if;
    if tg_table_name in ('health_status', 'vaccination_dose', 'person_record', 'person') then
        perform publish.note_persons((select array_agg(person_id) from old_rows));
    end if;
    if tg_table_name = 'person' then
        insert into publish.pending_citizen (citizen_id)
        select distinct citizen_id from old_rows where citizen_id is not null
        on conflict do nothing;
    elsif tg_table_name = 'vaccination' then
        perform publish.note_persons((
            select array_agg(d.person_id)
            from old_rows as o inner join derived.vaccination_dose as d on o.vaccination_id = d.vaccination_id
        ));
    elsif tg_table_name = 'test_result' then
        perform publish.note_persons((
            select array_agg(r.person_id) from old_rows as o
            inner join derived.person_record as r on r.source = 'test_result' and o.test_result_id = r.record_id
        ));
    end if;
    return null;
end
$$;

create function publish.note_truncate() returns trigger
language plpgsql as $$
begin
    update publish.build_state set full_rebuild = true;
    return null;
end
$$;

create trigger publish_changed after update on derived.health_status
referencing old table as old_rows new table as new_rows
for each statement execute function publish.note_changed_persons();
create trigger publish_inserted after insert on derived.health_status
referencing new table as new_rows
for each statement execute function publish.note_inserted_persons();
create trigger publish_deleted after delete on derived.health_status
referencing old table as old_rows
for each statement execute function publish.note_deleted_persons();
create trigger publish_truncated after truncate on derived.health_status
for each statement execute function publish.note_truncate();

create trigger publish_changed after update on derived.person
referencing old table as old_rows new table as new_rows
for each statement execute function publish.note_changed_persons();
create trigger publish_deleted after delete on derived.person
referencing old table as old_rows
for each statement execute function publish.note_deleted_persons();
create trigger publish_truncated after truncate on derived.person
for each statement execute function publish.note_truncate();

create trigger publish_changed after update on derived.vaccination_dose
referencing old table as old_rows new table as new_rows
for each statement execute function publish.note_changed_persons();
create trigger publish_inserted after insert on derived.vaccination_dose
referencing new table as new_rows
for each statement execute function publish.note_inserted_persons();
create trigger publish_deleted after delete on derived.vaccination_dose
referencing old table as old_rows
for each statement execute function publish.note_deleted_persons();
create trigger publish_truncated after truncate on derived.vaccination_dose
for each statement execute function publish.note_truncate();

create trigger publish_changed after update on derived.person_record
referencing old table as old_rows new table as new_rows
for each statement execute function publish.note_changed_persons();
create trigger publish_inserted after insert on derived.person_record
referencing new table as new_rows
for each statement execute function publish.note_inserted_persons();
create trigger publish_deleted after delete on derived.person_record
referencing old table as old_rows
for each statement execute function publish.note_deleted_persons();
create trigger publish_truncated after truncate on derived.person_record
for each statement execute function publish.note_truncate();

create trigger publish_changed after update on core.vaccination
referencing old table as old_rows new table as new_rows
for each statement execute function publish.note_changed_persons();
create trigger publish_deleted after delete on core.vaccination
referencing old table as old_rows
for each statement execute function publish.note_deleted_persons();

create trigger publish_changed after update on core.test_result
referencing old table as old_rows new table as new_rows
for each statement execute function publish.note_changed_persons();
create trigger publish_deleted after delete on core.test_result
referencing old table as old_rows
for each statement execute function publish.note_deleted_persons();

-- Existing releases: the current release's rows become versions (the persons of its delta valid from it, the
-- others from the release before it: an app on that one still syncs by delta, on an older one from 0);
-- the older releases are pruned and an unpublished candidate discarded. The next release recomputes everyone
-- (full_rebuild) and stores only what differs.
insert into publish.release_version (
    citizen_id, valid_from, change, phone, doses, last_dose_on, last_dose_product, fully_vaccinated, card_colour,
    latest_test_type, latest_test_result, latest_test_sampled_at, f0, contact_candidate, full_name, date_of_birth,
    vaccination_certificate, sskdt_certificate, test_history, recovered_on, arrival_measure, arrival_measure_ends_on,
    row_sha256, expires_at
)
select
    r.citizen_id,
    case when d.citizen_id is null then coalesce(m.previous_release_id, r.release_id) else r.release_id end,
    coalesce(d.change, 'added'),
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
    r.full_name,
    r.date_of_birth,
    r.vaccination_certificate,
    r.sskdt_certificate,
    r.test_history,
    r.recovered_on,
    r.arrival_measure,
    r.arrival_measure_ends_on,
    r.row_sha256,
    '-infinity'::timestamptz
from publish.release_row as r
inner join publish.release as c on r.release_id = c.release_id and c.is_current
inner join publish.release_meta as m on c.release_id = m.release_id
left join publish.release_delta as d on r.release_id = d.release_id and r.citizen_id = d.citizen_id;

insert into publish.release_version (citizen_id, valid_from, valid_to, change)
select d.citizen_id, d.release_id, d.release_id, 'removed'
from publish.release_delta as d
inner join publish.release as c on d.release_id = c.release_id and c.is_current
where d.change = 'removed';

update publish.release_version as v set
    certificate_text = coalesce((
        select
            string_agg(
                concat_ws(':', e.value ->> 'dose', e.value ->> 'on', e.value ->> 'product', e.value ->> 'facility_code'),
                ';' order by (e.value ->> 'dose')::int
            )
        from jsonb_array_elements(v.vaccination_certificate) as e
    ), ''),
    sskdt_certificate_text = coalesce((
        select
            string_agg(
                concat_ws(
                    ':', e.value ->> 'dose', e.value ->> 'on', e.value ->> 'product', e.value ->> 'facility_code',
                    coalesce(e.value ->> 'lot_number', '\N')
                ),
                ';' order by (e.value ->> 'dose')::int
            )
        from jsonb_array_elements(v.sskdt_certificate) as e
    ), ''),
    test_history_text = coalesce((
        select
            string_agg(
                concat_ws(
                    ':', h.value ->> 'type', h.value ->> 'sampled_at', h.value ->> 'result', h.value ->> 'pooled',
                    h.value ->> 'facility_code'
                ),
                ';' order by h.n
            )
        from jsonb_array_elements(v.test_history) with ordinality as h (value, n)
    ), '')
where v.change <> 'removed';

update publish.release_meta as m set pruned_at = now()
from publish.release as r
where m.release_id = r.release_id and not r.is_current and m.pruned_at is null and m.published_at is not null;
update publish.release_meta set status = 'discarded' where status in ('held', 'candidate');

drop view publish.pccovid_health_status;
drop view publish.vneid_health_status;
drop view publish.sskdt_health_status;
drop table publish.release_row;
drop table publish.release_delta;

-- The three views: for each person, the version valid at the current release; exactly the contract's columns
-- (§6, §7), security barriers (0017).
create view publish.pccovid_health_status with (security_barrier) as
select
    c.release_id,
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
from publish.release as c
inner join publish.release_version as r
    on c.release_id >= r.valid_from and (r.valid_to is null or c.release_id < r.valid_to)
where c.is_current;
comment on view publish.pccovid_health_status is 'PC-Covid: one row per person with a CCCD in the current release (contract §6).';

create view publish.vneid_health_status with (security_barrier) as
select
    c.release_id,
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
from publish.release as c
inner join publish.release_version as r
    on c.release_id >= r.valid_from and (r.valid_to is null or c.release_id < r.valid_to)
where c.is_current;
comment on view publish.vneid_health_status is 'VNeID: one row per person with a CCCD in the current release (contract §6).';

create view publish.sskdt_health_status with (security_barrier) as
select
    c.release_id,
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
    r.sskdt_certificate as vaccination_certificate,
    r.test_history,
    r.recovered_on,
    r.arrival_measure,
    r.arrival_measure_ends_on
from publish.release as c
inner join publish.release_version as r
    on c.release_id >= r.valid_from and (r.valid_to is null or c.release_id < r.valid_to)
where c.is_current;
comment on view publish.sskdt_health_status is 'Sổ Sức khỏe điện tử: one row per person with a CCCD in the current release (contract §7).';

grant select on publish.pccovid_health_status to pccovid_reader;
grant select on publish.vneid_health_status to vneid_reader;
grant select on publish.sskdt_health_status to sskdt_reader;

-- The former snapshot tables, as views with their columns (for the pipeline's own checks and audits; no reader
-- role may read them): each kept (not pruned, not discarded) release's whole snapshot, and its delta.
create view publish.release_row with (security_barrier) as
select
    c.release_id,
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
    r.full_name,
    r.date_of_birth,
    r.vaccination_certificate,
    r.row_sha256,
    r.sskdt_certificate,
    r.test_history,
    r.recovered_on,
    r.arrival_measure,
    r.arrival_measure_ends_on
from publish.release as c
inner join publish.release_version as r
    on c.release_id >= r.valid_from and (r.valid_to is null or c.release_id < r.valid_to)
left join publish.release_meta as m on c.release_id = m.release_id
where m.pruned_at is null and m.status is distinct from 'discarded';
comment on view publish.release_row is 'One row per kept release and published person: the release''s whole snapshot, from publish.release_version.';

create view publish.release_delta with (security_barrier) as
select
    v.valid_from as release_id,
    v.citizen_id,
    v.change
from publish.release_version as v;
comment on view publish.release_delta is 'One row per release and person added, changed or removed (tombstone) against the previous published release.';
