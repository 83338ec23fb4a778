-- The Sổ SKĐT view's arrival_measure / arrival_measure_ends_on (health-status contract §7, arrivals.md §2-§3):
-- the release build (sql/publish/release_candidate.sql) fills them with the person's arrival measure in force
-- as of the release, and publishes by change (0023): a person's row must be recomputed when an arrival of
-- theirs is added, changed or removed (these triggers note them in publish.pending_person), and when the
-- measure ends (the row's expires_at: the day after ends_on, set by the candidate query itself).
--
-- The arrivals build (covidsync.status.arrivals) deletes and derives again the arrivals of the persons in its
-- scope, in two statements: the delete notes the persons, the insert notes them again (nothing lost, the
-- release recomputes them and stores only those whose row hash changed). A full arrivals build (every arrival
-- deleted) goes over publish.note_limit() at scale and marks a full rebuild, as the status build does.

create function publish.note_arrival_persons() returns trigger
language plpgsql as $$
declare
    ids bigint [];
begin
    if (select full_rebuild from publish.build_state) then
        return null;  -- every person is recomputed anyway
    end if;
    if tg_op = 'INSERT' then
        select array_agg(distinct person_id) into ids from new_rows where person_id is not null;
    elsif tg_op = 'DELETE' then
        select array_agg(distinct person_id) into ids from old_rows where person_id is not null;
    else  -- UPDATE: only the rows whose published inputs (whose person, which measure, until when) changed
        select array_agg(distinct person_id) into ids from (
            (
                select rule_set, arrival_key, person_id, arrived_at, measure, ends_on from old_rows
                except
                select rule_set, arrival_key, person_id, arrived_at, measure, ends_on from new_rows
            )
            union
            (
                select rule_set, arrival_key, person_id, arrived_at, measure, ends_on from new_rows
                except
                select rule_set, arrival_key, person_id, arrived_at, measure, ends_on from old_rows
            )
        ) as changed
        where person_id is not null;
    end if;
    perform publish.note_persons(coalesce(ids, '{}'));
    return null;
end
$$;
comment on function publish.note_arrival_persons() is 'Notes in publish.pending_person the persons whose arrivals a statement on derived.arrival added, changed or removed (the Sổ SKĐT arrival measure, 0028).';

create trigger publish_arrival_inserted after insert on derived.arrival
referencing new table as new_rows
for each statement execute function publish.note_arrival_persons();
create trigger publish_arrival_changed after update on derived.arrival
referencing old table as old_rows new table as new_rows
for each statement execute function publish.note_arrival_persons();
create trigger publish_arrival_deleted after delete on derived.arrival
referencing old table as old_rows
for each statement execute function publish.note_arrival_persons();
create trigger publish_arrival_truncated after truncate on derived.arrival
for each statement execute function publish.note_truncate();

-- The arrivals already built were never noted: the next release recomputes everyone once and stores only the
-- rows that differ (the persons with a measure in force; a row without one hashes as before).
update publish.build_state set full_rebuild = true;
