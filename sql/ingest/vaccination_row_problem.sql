-- quarantine.row_problem for one staged vaccinations file: one row per (data row, code), on the first
-- column at fault in the contract's column order (contract section 6). Parameters: file_id, facility_code
-- (the folder's), received_at, has_record_id (the file has a record_id column).
-- Every rule is a set operation over staging.vaccination; short_dose_interval is added afterwards by
-- vaccination_short_interval.sql because it looks at which rows are free of errors.
insert into quarantine.row_problem (file_id, row_number, column_name, code, severity)
with batch as (
    select
        s.*,
        length(s.citizen_id) as id_length,
        (s.raw ? 'province_code' and s.raw ? 'district_code' and s.raw ? 'commune_code') as has_admin,
        case
            when %(has_record_id)s then s.record_id
            when s.dose_number between 1 and 4 then s.citizen_id || ':' || s.dose_number::text
        end as duplicate_key
    from staging.vaccination as s
    where s.file_id = %(file_id)s
),

checked as (
    select
        b.*,
        p.province_code is not null as id_province_known,
        b.duplicate_key is not null
        and b.row_number > min(b.row_number) over (partition by b.duplicate_key) as is_duplicate,
        case
            when not b.has_admin then null
            when b.province_code is null or not exists (
                select 1 from core.province as pr
                where pr.province_code = b.province_code
            ) then 'province_code'
            when b.province_code = '17' and (b.district_code is null or not exists (
                select 1 from core.district as d
                where d.district_code = b.district_code and d.province_code = '17'
            )) then 'district_code'
            when b.province_code = '17' and (b.commune_code is null or not exists (
                select 1 from core.commune as c
                where c.commune_code = b.commune_code and c.district_code = b.district_code
            )) then 'commune_code'
            -- another province: no reference list is shipped, but Hòa Bình's codes (and the former
            -- Kỳ Sơn district 151) cannot belong to it (covidsync.domain.admin.check_admin)
            when b.province_code <> '17' and (
                b.district_code is null or b.district_code = '151'
                or exists (
                    select 1 from core.district as d
                    where d.district_code = b.district_code
                )
            ) then 'commune_code'
            when b.province_code <> '17' and (
                b.commune_code is null
                or exists (
                    select 1 from core.commune as c
                    where c.commune_code = b.commune_code
                )
            ) then 'commune_code'
        end as admin_fault
    from batch as b
    left join core.province as p
        on b.id_length = 12 and left(b.citizen_id, 1) = '0' and p.province_code = substr(b.citizen_id, 2, 2)
),

found as (
    select
        c.row_number,
        f.column_order,
        f.column_name,
        f.code
    from checked as c
    cross join
        lateral (
            values
            (1, 'full_name', 'missing_required', not c.raw ? 'full_name'),
            (
                1, 'full_name', 'name_without_diacritics',
                octet_length(c.full_name) = char_length(c.full_name) and lower(c.full_name) <> upper(c.full_name)
            ),
            (2, 'date_of_birth', 'missing_required', not c.raw ? 'date_of_birth'),
            (2, 'date_of_birth', 'invalid_date', c.raw ? 'date_of_birth' and c.date_of_birth is null),
            (3, 'gender', 'missing_required', not c.raw ? 'gender'),
            (4, 'citizen_id', 'missing_required', not c.raw ? 'citizen_id'),
            (
                4, 'citizen_id', 'invalid_citizen_id',
                c.raw ? 'citizen_id' and (c.citizen_id is null or c.id_length not in (9, 12))
            ),
            (4, 'citizen_id', 'legacy_cmnd', c.id_length = 9),
            (4, 'citizen_id', 'unknown_province_in_id', c.id_length = 12 and not c.id_province_known),
            (
                4, 'citizen_id', 'id_birth_year_mismatch',
                c.id_length = 12 and c.date_of_birth is not null
                and 1900 + 100 * (substr(c.citizen_id, 4, 1)::int / 2) + substr(c.citizen_id, 5, 2)::int
                <> extract(year from c.date_of_birth)
            ),
            (
                4, 'citizen_id', 'id_gender_mismatch',
                c.id_length = 12 and c.gender is not null
                and (mod(substr(c.citizen_id, 4, 1)::int, 2) = 0) <> (c.gender = 'male')
            ),
            (4, 'citizen_id', 'duplicate_in_file', not %(has_record_id)s and c.is_duplicate),
            (0, 'record_id', 'duplicate_in_file', %(has_record_id)s and c.is_duplicate),
            (5, 'phone', 'invalid_phone', c.raw ? 'phone' and c.phone is null),
            (7, 'province_code', 'missing_required', not c.raw ? 'province_code'),
            (8, 'district_code', 'missing_required', not c.raw ? 'district_code'),
            (9, 'commune_code', 'missing_required', not c.raw ? 'commune_code'),
            (7, 'province_code', 'invalid_admin_code', c.admin_fault = 'province_code'),
            (8, 'district_code', 'invalid_admin_code', c.admin_fault = 'district_code'),
            (9, 'commune_code', 'invalid_admin_code', c.admin_fault = 'commune_code'),
            (11, 'vaccine', 'missing_required', not c.raw ? 'vaccine'),
            (11, 'vaccine', 'unknown_vaccine', c.raw ? 'vaccine' and c.vaccine_code is null),
            (12, 'lot_number', 'missing_required', not c.raw ? 'lot_number'),
            (13, 'dose_number', 'missing_required', not c.raw ? 'dose_number'),
            (
                13, 'dose_number', 'invalid_dose_number',
                c.raw ? 'dose_number' and (c.dose_number is null or c.dose_number not between 1 and 4)
            ),
            (14, 'vaccinated_on', 'missing_required', not c.raw ? 'vaccinated_on'),
            (14, 'vaccinated_on', 'invalid_date', c.raw ? 'vaccinated_on' and c.vaccinated_on is null),
            (
                14, 'vaccinated_on', 'future_date',
                c.vaccinated_on > (%(received_at)s::timestamptz at time zone 'Asia/Ho_Chi_Minh')::date
            ),
            (14, 'vaccinated_on', 'before_campaign', c.vaccinated_on < date '2021-03-08'),
            (14, 'vaccinated_on', 'event_before_birth', c.vaccinated_on < c.date_of_birth),
            (
                15, 'facility_code', 'facility_mismatch',
                c.raw ? 'facility_code' and c.facility_code is distinct from %(facility_code)s
            )
        ) as f (column_order, column_name, code, failed)
    where f.failed
)

select distinct on (fd.row_number, fd.code)
    %(file_id)s,
    fd.row_number,
    fd.column_name,
    fd.code,
    rc.severity
from found as fd
inner join ops.row_code as rc on fd.code = rc.code
order by fd.row_number, fd.code, fd.column_order
