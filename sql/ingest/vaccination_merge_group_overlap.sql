-- The files of a group that send the same record (facility and record_key) as another file of it, each such
-- record's files as one array (issue 16): a later file replaces an earlier one's record, so such files are
-- merged one after the other, never in one set statement (sql/ingest/vaccination_merge_group.sql).
-- Parameters: file_ids.
select array_agg(distinct l.file_id) as file_ids
from staging.vaccination_loadable as l
inner join ops.landing_file as f on l.file_id = f.file_id
where l.file_id = any(%(file_ids)s)
group by f.facility_code, l.record_key
having count(distinct l.file_id) > 1
