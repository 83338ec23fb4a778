-- What an incremental health-status build needs to resolve only the people touched since the last build:
-- to know which identifiers changed (new rows carry loaded_at / first_seen_at / changed_at; what a delete or
-- an update took away is logged in core.identity_change), and indexes to walk from an identifier to the
-- records, phones, links and persons connected to it without reading a whole core table.

-- One row per identifier (or phone) that a core record stopped carrying, deleted or updated: the watermark
-- of the next build finds them. Written by the triggers below, never by hand.
create table core.identity_change (
    kind text not null check (kind in ('cccd', 'cmnd', 'qid', 'phone')),
    value text not null,
    changed_at timestamptz not null default now()
);
comment on table core.identity_change is 'One row per identifier or phone a core record stopped carrying (deleted or updated): seeds of the next incremental identity resolution.';
create index identity_change_at on core.identity_change (changed_at);

-- a facility record deleted or updated: its identifier and phone, before (and after, for an update)
create function core.log_facility_identity_change() returns trigger
language plpgsql as $$
begin
    insert into core.identity_change (kind, value)
    select distinct x.kind, x.value
    from gone as g
    cross join lateral (
        values
            (case length(g.citizen_id) when 12 then 'cccd' when 9 then 'cmnd' end, g.citizen_id),
            ('phone', g.phone)
    ) as x (kind, value)
    where x.kind is not null and x.value is not null;
    return null;
end;
$$;
comment on function core.log_facility_identity_change() is 'Statement trigger: logs the identifiers and phones of deleted or updated facility records in core.identity_change.';

create trigger vaccination_identity_delete after delete on core.vaccination
referencing old table as gone for each statement execute function core.log_facility_identity_change();
create trigger vaccination_identity_update_old after update on core.vaccination
referencing old table as gone for each statement execute function core.log_facility_identity_change();
create trigger vaccination_identity_update_new after update on core.vaccination
referencing new table as gone for each statement execute function core.log_facility_identity_change();
create trigger test_result_identity_delete after delete on core.test_result
referencing old table as gone for each statement execute function core.log_facility_identity_change();
create trigger test_result_identity_update_old after update on core.test_result
referencing old table as gone for each statement execute function core.log_facility_identity_change();
create trigger test_result_identity_update_new after update on core.test_result
referencing new table as gone for each statement execute function core.log_facility_identity_change();

-- A check-in identity changed when what identity resolution reads of it did: not when a new scan only moves
-- last_seen_at (most identities are scanned every day); the phone it no longer carries is logged.
alter table core.checkin_person add column changed_at timestamptz not null default now();
comment on column core.checkin_person.changed_at is 'Start of the transaction that inserted the row or last changed what identity resolution reads (not last_seen_at).';
create index checkin_person_changed on core.checkin_person (changed_at);
create index checkin_person_identifier on core.checkin_person (person_kind, identifier);
create index checkin_person_phone on core.checkin_person (phone) where phone is not null;

create function core.checkin_person_changed() returns trigger
language plpgsql as $$
begin
    new.changed_at := now();
    if old.phone is not null and old.phone is distinct from new.phone then
        insert into core.identity_change (kind, value) values ('phone', old.phone);
    end if;
    return new;
end;
$$;
comment on function core.checkin_person_changed() is 'Row trigger: stamps changed_at and logs a phone a check-in identity stopped carrying.';
create trigger checkin_person_changed before update on core.checkin_person
for each row when (
    (old.identifier, old.full_name, old.date_of_birth, old.birth_year, old.gender, old.phone, old.first_seen_at)
    is distinct from
    (new.identifier, new.full_name, new.date_of_birth, new.birth_year, new.gender, new.phone, new.first_seen_at)
) execute function core.checkin_person_changed();

create function core.log_checkin_person_delete() returns trigger
language plpgsql as $$
begin
    insert into core.identity_change (kind, value)
    select distinct x.kind, x.value
    from gone as g
    cross join lateral (values (g.person_kind, g.identifier), ('phone', g.phone)) as x (kind, value)
    where x.value is not null;
    return null;
end;
$$;
comment on function core.log_checkin_person_delete() is 'Statement trigger: logs the identifiers and phones of deleted check-in identities.';
create trigger checkin_person_delete after delete on core.checkin_person
referencing old table as gone for each statement execute function core.log_checkin_person_delete();

create function core.log_identity_link_delete() returns trigger
language plpgsql as $$
begin
    insert into core.identity_change (kind, value)
    select distinct x.kind, x.value
    from gone as g
    cross join lateral (values ('cccd', g.citizen_id), (g.other_kind, g.other_value)) as x (kind, value);
    return null;
end;
$$;
comment on function core.log_identity_link_delete() is 'Statement trigger: logs both identifiers of deleted identity links.';
create trigger identity_link_delete after delete on core.identity_link
referencing old table as gone for each statement execute function core.log_identity_link_delete();

-- links seen since a build; from a phone to the records that carry it
create index identity_link_first_seen on core.identity_link (first_seen_at);
create index vaccination_phone on core.vaccination (phone) where phone is not null;
create index test_result_phone on core.test_result (phone) where phone is not null;

-- the records whose status clock (14 days, 72 hours, recovery) passes as_of, found by date
create index vaccination_vaccinated_on on core.vaccination (vaccinated_on);
create index test_result_sampled_at on core.test_result (sampled_at);
create index contact_candidate_scanned on derived.contact_candidate (rule_set, candidate_scanned_at);

-- decisions from either side of the pair, and those taken since a build
create index identity_decision_other on derived.identity_decision (other_kind, other_value);
create index identity_decision_at on derived.identity_decision (decided_at);

-- the review items of the identifiers an incremental build resolves again
create index identity_review_subject on derived.identity_review (subject_kind, subject_value);

-- a person's derived rows by person alone: what the build deletes for the persons it recomputes, and what
-- deleting a person (merged into another) checks its foreign keys with
create index health_status_person on derived.health_status (person_id);
create index f0_episode_person on derived.f0_episode (person_id);
create index contact_candidate_f0 on derived.contact_candidate (f0_person_id);
create index contact_candidate_candidate_person on derived.contact_candidate (candidate_person_id);
