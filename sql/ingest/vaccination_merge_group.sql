-- core.vaccination from several validated vaccinations files of one group (issue 16, many small files), in the
-- caller's one transaction: what sql/ingest/vaccination_merge.sql does for one file, as sets over all of them.
-- The caller passes only files none of whose record keys another of them sends (covidsync.ingest.engine cuts
-- the group where they do), so the files' order between them changes nothing but the ids' order, which the
-- final insert keeps (file by file, as the caller gives them). Parameters: file_ids (in the group's order).
-- The files' loadable rows and their warnings are taken once into temporary tables with statistics: read
-- through the view, the anti-join to quarantine.row_problem was estimated at 1 row for 100,000, and the plan
-- aggregated the warnings again for each row (minutes for a group of 200 files: docs/performance.md).
create temp table vaccination_group_rows on commit drop as
select
    l.*,
    f.facility_code as folder_facility_code,
    array_position(%(file_ids)s, l.file_id) as file_position
from staging.vaccination_loadable as l
inner join ops.landing_file as f on l.file_id = f.file_id
where l.file_id = any(%(file_ids)s);

create temp table vaccination_group_warnings on commit drop as
select
    q.file_id,
    q.row_number,
    array_agg(q.code order by q.code) as codes
from quarantine.row_problem as q
where q.file_id = any(%(file_ids)s)
group by q.file_id, q.row_number;

-- only the columns the statements below join, match or sort on: every column's statistics (names, addresses)
-- took a fifth of the merge for 500-row files (issue 16, branch e21-smallfiles)
analyze vaccination_group_rows (file_id, row_number, folder_facility_code, record_key, file_position);
analyze vaccination_group_warnings;

-- a reprocess of a file first takes back what its earlier load put in core
delete from core.vaccination
where source_file_id = any(%(file_ids)s);

with replaced as (
    delete from core.vaccination as v
    using vaccination_group_rows as g
    where v.facility_code = g.folder_facility_code and v.record_key = g.record_key
    returning v, g.file_id as replaced_by
)

insert into core.vaccination_history
select
    (r.v).*,
    now() as replaced_at,
    r.replaced_by as replaced_by_file_id
from replaced as r
where (r.v).source_file_id <> r.replaced_by;

insert into core.vaccination (
    facility_code, record_key, record_id, full_name, date_of_birth, birth_year_only, gender, citizen_id,
    phone, health_insurance_no, province_code, district_code, commune_code, address, vaccine_code,
    lot_number, dose_number, vaccinated_on, warnings, source_file_id, source_row
)
select
    g.folder_facility_code,
    g.record_key,
    g.record_id,
    g.full_name,
    g.date_of_birth,
    coalesce(g.birth_year_only, false),
    g.gender,
    g.citizen_id,
    g.phone,
    g.health_insurance_no,
    g.province_code,
    g.district_code,
    g.commune_code,
    g.address,
    g.vaccine_code,
    g.lot_number,
    g.dose_number,
    g.vaccinated_on,
    coalesce(w.codes, '{}'),
    g.file_id,
    g.row_number
from vaccination_group_rows as g
left join vaccination_group_warnings as w on g.file_id = w.file_id and g.row_number = w.row_number
-- file by file as the caller orders them, each in the order of the unique key (as one file's merge)
order by g.file_position, g.record_key;
