-- core.vaccination from several validated vaccinations files of one group (issue 16, many small files), in the
-- caller's one transaction: what sql/ingest/vaccination_merge.sql does for one file, as sets over all of them.
-- The caller passes only files none of whose record keys another of them sends (covidsync.ingest.engine cuts
-- the group where they do), so the files' order between them changes nothing but the ids' order, which the
-- final insert keeps (file by file, as the caller gives them). Parameters: file_ids (in the group's order).
-- a reprocess of a file first takes back what its earlier load put in core
delete from core.vaccination
where source_file_id = any(%(file_ids)s);

with replaced as (
    delete from core.vaccination as v
    using staging.vaccination_loadable as l, ops.landing_file as f
    where
        l.file_id = any(%(file_ids)s)
        and f.file_id = l.file_id
        and v.facility_code = f.facility_code
        and v.record_key = l.record_key
    returning v, l.file_id as replaced_by
)

insert into core.vaccination_history
select
    (r.v).*,
    now() as replaced_at,
    r.replaced_by as replaced_by_file_id
from replaced as r
where (r.v).source_file_id <> r.replaced_by;

-- the warnings of the files' rows, aggregated once
with warned as (
    select
        q.file_id,
        q.row_number,
        array_agg(q.code order by q.code) as codes
    from quarantine.row_problem as q
    where q.file_id = any(%(file_ids)s)
    group by q.file_id, q.row_number
)

insert into core.vaccination (
    facility_code, record_key, record_id, full_name, date_of_birth, birth_year_only, gender, citizen_id,
    phone, health_insurance_no, province_code, district_code, commune_code, address, vaccine_code,
    lot_number, dose_number, vaccinated_on, warnings, source_file_id, source_row
)
select
    f.facility_code,
    l.record_key,
    l.record_id,
    l.full_name,
    l.date_of_birth,
    coalesce(l.birth_year_only, false),
    l.gender,
    l.citizen_id,
    l.phone,
    l.health_insurance_no,
    l.province_code,
    l.district_code,
    l.commune_code,
    l.address,
    l.vaccine_code,
    l.lot_number,
    l.dose_number,
    l.vaccinated_on,
    coalesce(w.codes, '{}'),
    l.file_id,
    l.row_number
from staging.vaccination_loadable as l
inner join ops.landing_file as f on l.file_id = f.file_id
left join warned as w on l.file_id = w.file_id and l.row_number = w.row_number
where l.file_id = any(%(file_ids)s)
-- file by file as the caller orders them, each in the order of the unique key (as one file's merge)
order by array_position(%(file_ids)s, l.file_id), l.record_key;
