-- core.test_result from one validated test-results file, in the caller's transaction: the rows without
-- errors replace the facility's records with the same record_key (the earlier versions move to
-- core.test_result_history, unless they came from this very file). Parameters: file_id, facility_code,
-- keys_in_order, take_back.
-- a reprocess of this file first takes back what its earlier load put in core (take_back; a file read
-- straight into core took it back before its rows were written, and keeps them)
delete from core.test_result
where source_file_id = %(file_id)s and %(take_back)s;

with replaced as (
    delete from core.test_result as t
    using staging.test_result_loadable as l
    where l.file_id = %(file_id)s and t.facility_code = %(facility_code)s and t.record_key = l.record_key
    returning t.*
)

insert into core.test_result_history
select
    r.*,
    now() as replaced_at,
    %(file_id)s as replaced_by_file_id
from replaced as r
where r.source_file_id <> %(file_id)s;

-- the warnings of the file's rows, aggregated once (a subquery per row cost an index probe per row)
with warned as (
    select
        q.row_number,
        array_agg(q.code order by q.code) as codes
    from quarantine.row_problem as q
    where q.file_id = %(file_id)s
    group by q.row_number
)

insert into core.test_result (
    facility_code, record_key, record_id, sample_id, full_name, date_of_birth, birth_year_only, gender,
    citizen_id, phone, province_code, district_code, commune_code, test_type, pooled, sampled_at, result,
    ct_value, resulted_at, warnings, source_file_id, source_row
)
select
    %(facility_code)s,
    l.record_key,
    l.record_id,
    l.sample_id,
    l.full_name,
    l.date_of_birth,
    coalesce(l.birth_year_only, false),
    l.gender,
    l.citizen_id,
    l.phone,
    l.province_code,
    l.district_code,
    l.commune_code,
    l.test_type,
    coalesce(l.pooled, false),
    l.sampled_at,
    l.result,
    l.ct_value,
    l.resulted_at,
    coalesce(w.codes, '{}'),
    l.file_id,
    l.row_number
from staging.test_result_loadable as l
left join warned as w on l.row_number = w.row_number
where l.file_id = %(file_id)s
-- in the order of the unique key (one facility): its b-tree is appended at one edge instead of at a random leaf
-- per row, which is what a big table pays (docs/performance.md, "The destination's indexes"); rows staged in
-- that order already (keys_in_order, staging.staged_file) go as staged: the constant key drops the sort
order by case when %(keys_in_order)s then null else l.record_key end;
