-- quarantine.row_problem: duplicate_in_file for one staged declarations file (contract arrivals.md section 4),
-- the one declaration rule that needs the whole file (the others are column expressions on the typed batches:
-- covidsync.ingest.declaration_frame_rules). A row repeats an earlier row's (app, declaration_id), the app
-- read as the merge reads it: every row after the first with its key. Parameters: file_id.
insert into quarantine.row_problem (file_id, row_number, column_name, code, severity)
with keyed as (
    select
        s.row_number,
        s.declaration_id,
        core.declaration_app(s.app) as app_code
    from staging.declaration as s
    where s.file_id = %(file_id)s and s.declaration_id is not null
),

repeated as (
    select
        k.app_code,
        k.declaration_id,
        min(k.row_number) as first_row
    from keyed as k
    group by k.app_code, k.declaration_id
    having count(*) > 1
)

select
    %(file_id)s,
    k.row_number,
    'declaration_id',
    rc.code,
    rc.severity
from keyed as k
inner join repeated as r on k.app_code = r.app_code and k.declaration_id = r.declaration_id
inner join ops.row_code as rc on rc.code = 'duplicate_in_file'
where k.row_number > r.first_row
