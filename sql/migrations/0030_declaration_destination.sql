-- Declarations ingest at the cost it must (issue 24, with issue 16's throughput targets):
-- * staging.declaration.raw (jsonb) holds the values as sent only for rows with a problem, as migration 0021
--   did for vaccinations and test results: the codes a single row decides are column expressions on the typed
--   batches (covidsync.ingest.declaration_frame_rules), every row's values as sent wait in the local spill,
--   and the rows a SQL rule flags get theirs from it (covidsync.ingest.engine.fill_raw); the columns only
--   the per-row codes read (the citizen id and phone as read, the QR's kind, birth date, gender) are no
--   longer staged: the codes are computed on the batch, and the persons' facts go to
--   staging.declaration_identity;
-- * core.declaration's reference to its landing file checked once per statement (core.check_references,
--   migration 0016) instead of a per-row foreign-key trigger, with the same guarantees (the reverse side:
--   a delete or truncate of a file that declarations name fails);
-- * its person_key checked in the cheap form of migration 0013 (same answers as '^[0-9a-f]{64}$');
-- * the loaded_at b-tree (read only by the incremental arrivals build: "declarations loaded since the
--   watermark", sql/status/arrival_scope.sql) replaced by a BRIN: rows are appended in loaded_at order.

alter table staging.declaration alter column raw drop not null;
drop view staging.declaration_loadable;
alter table staging.declaration
drop column qr_kind,
drop column citizen_id,
drop column citizen_kind,
drop column phone,
drop column date_of_birth,
drop column birth_year_only,
drop column gender;
create view staging.declaration_loadable as
select s.*
from staging.declaration as s
where not exists (
    select 1 from quarantine.row_problem as q
    where q.file_id = s.file_id and q.row_number = s.row_number and q.severity = 'error'
);
comment on view staging.declaration_loadable is 'Staged declaration rows with no error (warnings allowed).';
comment on column staging.declaration.raw is
'The values as sent (canonical column -> text), for rows with a row problem only (null for a clean row): what quarantine.rejected_row and errors.csv show.';

alter table core.declaration drop constraint declaration_source_file_id_fkey;
alter table core.declaration_history drop constraint declaration_history_replaced_by_file_id_fkey;

create trigger declaration_references_insert after insert on core.declaration
referencing new table as new_rows for each statement execute function core.check_references(
    'source_file_id', 'ops.landing_file', 'file_id'
);
create trigger declaration_references_update after update on core.declaration
referencing new table as new_rows for each statement execute function core.check_references(
    'source_file_id', 'ops.landing_file', 'file_id'
);
create trigger declaration_history_references_insert after insert on core.declaration_history
referencing new table as new_rows for each statement execute function core.check_references(
    'replaced_by_file_id', 'ops.landing_file', 'file_id'
);
create trigger declaration_history_references_update after update on core.declaration_history
referencing new table as new_rows for each statement execute function core.check_references(
    'replaced_by_file_id', 'ops.landing_file', 'file_id'
);

-- the referenced files stay (a trigger of its own beside 0016's landing_file_referenced_*)
create trigger landing_file_declaration_referenced_delete after delete on ops.landing_file
referencing old table as old_rows for each statement execute function core.keep_referenced(
    'file_id', 'core.declaration', 'source_file_id',
    'file_id', 'core.declaration_history', 'replaced_by_file_id'
);
create trigger landing_file_declaration_referenced_truncate before truncate on ops.landing_file
for each statement execute function core.keep_referenced_truncate(
    'file_id', 'core.declaration', 'source_file_id',
    'file_id', 'core.declaration_history', 'replaced_by_file_id'
);

alter table core.declaration drop constraint declaration_person_key_check;
alter table core.declaration add constraint declaration_person_key_check
check (length(person_key) = 64 and person_key !~ '[^0-9a-f]');

drop index core.declaration_loaded;
create index declaration_loaded on core.declaration using brin (loaded_at);

-- arrivals.md §4: an origin code that is not a known province is unknown_origin_area, a warning, and the
-- arrival is kept (origin_known false, its level by COVIDSYNC_UNKNOWN_ORIGIN_LEVEL). A province code that
-- cannot be read at all ('xx') reaches core as null, which the movement check of 0025 refused: the whole
-- file ended merge_failed. A movement needs an origin province unless its origin is marked unknown.
alter table core.declaration drop constraint declaration_check;
alter table core.declaration add constraint declaration_movement_complete check (
    kind = 'health'
    or (
        destination_commune_code is not null
        and travel_date is not null
        and (origin_province_code is not null or origin_known is false)
    )
);
