-- Declarations at 100k (issues 24 and 16, branch e15-arrivals-direct): the values of a core row that the merge
-- joined for, computed while staging instead, as migration 0046 did for check-ins' person keys.
--
-- * staging.declaration.person_key: the pseudonym of (person_kind, identifier) (covidsync.privacy, the same
--   HMAC-SHA256 as covidsync.privacy.SQL_PSEUDONYM), computed by the stage once per distinct person of a batch
--   (covidsync.ingest.checkins.PersonKeys). The merge read it from a table of keys hashed in SQL joined to
--   every loadable row.
-- * staging.declaration.warnings: the row's codes in code order (as core.declaration.warnings), from the codes
--   the stage found on the batch; the merge aggregated quarantine.row_problem per row and joined it. Only a
--   row with no error is loaded, and every warning code of a declaration is decided on its batch
--   (declaration_duplicate.sql, the one SQL rule, gives an error), so these are the same codes.
-- * staging.declaration.origin_known and destination_in_province: as core.declaration's, from those codes and
--   from ref.commune / ref.district read once per file (the merge joined both to every loadable row).
--
-- Null in all four when an older stage wrote the row (a file held before this migration and released after):
-- the merge then fills them in SQL first (sql/ingest/declaration_staged_fill.sql). staging.declaration_loadable
-- is made again so that it has the columns (a view's * is fixed when it is made).

alter table staging.declaration
add column person_key text,
add column warnings text[],
add column origin_known boolean,
add column destination_in_province boolean;
comment on column staging.declaration.person_key is
'Pseudonym of (person_kind, identifier) (covidsync.privacy), computed while staging; null without a person key, or with warnings null when an older stage wrote the row.';
comment on column staging.declaration.warnings is
'The row''s codes in code order (core.declaration.warnings), computed while staging; null when an older stage wrote the row.';

create or replace view staging.declaration_loadable as
select s.*
from staging.declaration as s
where not exists (
    select 1 from quarantine.row_problem as q
    where q.file_id = s.file_id and q.row_number = s.row_number and q.severity = 'error'
);
