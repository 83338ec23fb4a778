-- Issue 16, throughput (branch e6-stage): what staging learnt about a file's rows that a later step uses.
--
-- keys_in_order: the file's rows came in the order of their merge key (record_key, by bytes; one row in a
-- hundred may step back), as a facility's export by record id does. The merge then inserts them in the
-- order they were staged instead of sorting them by the key first: the sort (of every loadable row, 0.4-0.6 s
-- per 200k rows under load, on disk at the server's work_mem) bought nothing for them, since the unique key's
-- b-tree is appended at one edge either way (docs/performance.md, "The destination's indexes").
--
-- duplicate_rows: the rows whose duplicates-rule key (record_id, or the person and dose / sample) has a
-- 32-bit hash that occurs more than once in the file, found on the typed batches; every repeated key is among
-- them. The duplicates rule then compares the keys of these rows only (by the staging key) instead of
-- grouping every staged row. duplicates_by_record_id: which key they were found by (the rule uses them only
-- when it compares the same key).
--
-- A file staged without them (no row, or nulls) is handled as before: sorted, every row compared.
-- Unlogged and cleared with the file's staging rows, like them.
create unlogged table staging.staged_file (
    file_id bigint primary key,
    keys_in_order boolean not null,
    duplicate_rows integer[],
    duplicates_by_record_id boolean
);
comment on table staging.staged_file is
'Facts about a staged file found while staging it (rows in merge-key order; the rows that may repeat a key); cleared with its staging rows.';
