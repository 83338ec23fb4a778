-- quarantine.row_problem: duplicate_in_file for one staged test-results file (contract section 6), the one
-- row rule that needs the whole file (the others are column expressions on the typed batches:
-- covidsync.ingest.frame_rules.test_results). A row repeats an earlier row's record_id when the file has that
-- column, else its citizen id and sample id: every row after the first with its key.
-- Parameters: file_id, has_record_id, duplicate_rows (null: every row; migration 0038).
insert into quarantine.row_problem (file_id, row_number, column_name, code, severity)
with keyed as (
    select
        s.row_number,
        case
            when %(has_record_id)s then s.record_id
            else s.citizen_id || ':' || s.sample_id
        end as duplicate_key
    from staging.test_result as s
    where
        s.file_id = %(file_id)s
        -- only the rows staging found may repeat a key (their key's hash repeats), when it found them
        and (%(duplicate_rows)s::integer[] is null or s.row_number = any(%(duplicate_rows)s::integer[]))
),

repeated as (
    select
        k.duplicate_key,
        min(k.row_number) as first_row
    from keyed as k
    where k.duplicate_key is not null
    group by k.duplicate_key
    having count(*) > 1
)

select
    %(file_id)s,
    k.row_number,
    case when %(has_record_id)s then 'record_id' else 'citizen_id' end,
    rc.code,
    rc.severity
from keyed as k
inner join repeated as r on k.duplicate_key = r.duplicate_key
inner join ops.row_code as rc on rc.code = 'duplicate_in_file'
where k.row_number > r.first_row
