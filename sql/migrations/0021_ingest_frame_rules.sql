-- Issue 16, throughput: the row rules of a facility file computed on its typed batches (polars, while the
-- file is staged) instead of ~30 SQL tests per staged row, and the values as sent kept only for the rows
-- that have a problem.
--
-- staging.row_check: the row codes a dataset's frame rules found while staging a file (covidsync.ingest.
-- frame_rules), copied into quarantine.row_problem by the rules step with their severity, beside the codes
-- of the SQL rules files (duplicates, short intervals, later issues' rules). Unlogged and replaced per file,
-- like the staging tables.
create unlogged table staging.row_check (
    file_id bigint not null,
    row_number integer not null,
    column_name text not null,
    code text not null,
    primary key (file_id, row_number, column_name, code)
);
comment on table staging.row_check is
'Row codes found by a dataset''s frame rules while its file was staged; copied to quarantine.row_problem by the rules step.';

-- staging.vaccination.raw and staging.test_result.raw: the values as sent, now kept only for rows with a problem (parsing 200k JSON
-- objects was a third of staging a file); the rules step fills it for the rows that SQL rules flag.
alter table staging.vaccination alter column raw drop not null;
comment on column staging.vaccination.raw is
'The values as sent (canonical column -> text), for rows with a row problem only (null for a clean row): what quarantine.rejected_row and errors.csv show.';
alter table staging.test_result alter column raw drop not null;
comment on column staging.test_result.raw is
'The values as sent (canonical column -> text), for rows with a row problem only (null for a clean row): what quarantine.rejected_row and errors.csv show.';
