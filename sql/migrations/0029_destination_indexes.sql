-- Issue 16, the destination: what the indexes of core.vaccination and core.test_result cost a load, cut to
-- what their readers need (docs/performance.md, "The destination's indexes (e2-dest)").
--
-- COPY of a 200k-row file's final rows into core.vaccination as it stood took 5-6x the COPY into the bare
-- table: seven b-trees. A b-tree on a text column costs the most per row (every comparison of its descent is a
-- collation-aware text comparison, and phone and citizen_id arrive in random order); one on a value that grows
-- with the load (loaded_at: one value per merge) costs a b-tree insertion per row for a column read only as
-- "loaded since". Each index was weighed against its readers (sql/status, sql/ingest, sql/marts, sql/publish,
-- covidsync.status.build, core.keep_referenced):
--
-- * primary keys, (facility_code, record_key) (the unique key; the merge's replace), source_file_id (a resent
--   file's delete, the merge's row count, the test-result profile's 28 days, a landing file's delete),
--   vaccinated_on / sampled_at (the status clock: touched_by_time.sql, arrival_scope.sql, range scans): kept.
-- * (citizen_id, vaccinated_on) / (citizen_id, sampled_at): every reader asks for one CCCD or CMND by
--   equality (identity_obs, identity_scope, checkin_known, the short-interval rule's join); none reads the
--   date part in order. Replaced by a hash index on citizen_id: the same lookups, no text comparison per row.
-- * phone: read by equality only (identity_scope.sql: the records that carry a phone). A hash index, partial
--   as before.
-- * loaded_at: read as "loaded since the last build" (covidsync.status.build, identity_seed.sql,
--   record_known.sql) and "loaded before" beside a citizen_id lookup (checkin_known.sql). All rows of one
--   merge share one value and rows are appended in load order, so a BRIN summarises it nearly exactly; the
--   minmax-multi operator class keeps a page range's few distinct values apart (rows a resend wrote into space
--   freed by earlier versions); autosummarize lets autovacuum summarise each full page range soon after.
-- * test_result.sample_id: no reader (the publish and status SQL join test results by their id). Dropped.
drop index core.vaccination_person;
create index vaccination_person on core.vaccination using hash (citizen_id);
comment on index core.vaccination_person is
'A person''s records by CCCD or CMND (equality only: identity resolution, check-in facts, the short-interval rule).';

drop index core.vaccination_phone;
create index vaccination_phone on core.vaccination using hash (phone) where phone is not null;

drop index core.vaccination_loaded_at;
create index vaccination_loaded_at on core.vaccination
using brin (loaded_at timestamptz_minmax_multi_ops) with (autosummarize = on);
comment on index core.vaccination_loaded_at is
'Records loaded since an instant (the incremental status build): rows are appended in load order, one loaded_at per merge.';

drop index core.test_result_person;
create index test_result_person on core.test_result using hash (citizen_id);
comment on index core.test_result_person is
'A person''s test results by CCCD or CMND (equality only: identity resolution, check-in facts).';

drop index core.test_result_phone;
create index test_result_phone on core.test_result using hash (phone) where phone is not null;

drop index core.test_result_loaded_at;
create index test_result_loaded_at on core.test_result
using brin (loaded_at timestamptz_minmax_multi_ops) with (autosummarize = on);
comment on index core.test_result_loaded_at is
'Test results loaded since an instant (the incremental status build): rows are appended in load order, one loaded_at per merge.';

drop index core.test_result_sample;
