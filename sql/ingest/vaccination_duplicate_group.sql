-- quarantine.row_problem: duplicate_in_file for several staged vaccinations files of one group (issue 16, many
-- small files), as sql/ingest/vaccination_duplicate.sql does for one: each file's rows keyed on their own, a
-- row repeating an earlier row of the same file. Parameters: file_ids, has_record_ids (aligned with file_ids).
insert into quarantine.row_problem (file_id, row_number, column_name, code, severity)
with files as (
    select
        g.file_id,
        g.has_record_id
    from unnest(%(file_ids)s::bigint[], %(has_record_ids)s::boolean[]) as g (file_id, has_record_id)
),

keyed as (
    select
        s.file_id,
        s.row_number,
        g.has_record_id,
        case
            when g.has_record_id then s.record_id
            when s.dose_number between 1 and 4 then s.citizen_id || ':' || s.dose_number::text
        end as duplicate_key
    from staging.vaccination as s
    inner join files as g on s.file_id = g.file_id
),

repeated as (
    select
        k.file_id,
        k.duplicate_key,
        min(k.row_number) as first_row
    from keyed as k
    where k.duplicate_key is not null
    group by k.file_id, k.duplicate_key
    having count(*) > 1
)

select
    k.file_id,
    k.row_number,
    case when k.has_record_id then 'record_id' else 'citizen_id' end,
    rc.code,
    rc.severity
from keyed as k
inner join repeated as r on k.file_id = r.file_id and k.duplicate_key = r.duplicate_key
inner join ops.row_code as rc on rc.code = 'duplicate_in_file'
where k.row_number > r.first_row
