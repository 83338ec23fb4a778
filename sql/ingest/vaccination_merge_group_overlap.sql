-- The files of a group that send the same record (facility and record_key) as another file of it, each such
-- record's files as one array (issue 16): a later file replaces an earlier one's record, so such files are
-- merged one after the other, never in one set statement (sql/ingest/vaccination_merge_group.sql). Every
-- staged row counts, with errors or not (a cut too many costs a statement; the view's anti-join costs more).
-- Parameters: file_ids.
select array_agg(distinct s.file_id) as file_ids
from staging.vaccination as s
inner join ops.landing_file as f on s.file_id = f.file_id
where s.file_id = any(%(file_ids)s) and s.record_key is not null
group by f.facility_code, s.record_key
having min(s.file_id) <> max(s.file_id)
