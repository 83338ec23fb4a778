-- quarantine.row_problem for one staged test-results file: one row per (data row, code), on the first
-- column at fault in the contract's column order (contract sections 4 and 6). Parameters: file_id,
-- received_at, has_record_id (the file has a record_id column).
insert into quarantine.row_problem (file_id, row_number, column_name, code, severity)
with batch as (
    select
        s.*,
        length(s.citizen_id) as id_length,
        (s.raw ? 'province_code' and s.raw ? 'district_code' and s.raw ? 'commune_code') as has_admin,
        case
            when %(has_record_id)s then s.record_id
            else s.citizen_id || ':' || s.sample_id
        end as duplicate_key
    from staging.test_result as s
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
            (0, 'record_id', 'duplicate_in_file', %(has_record_id)s and c.is_duplicate),
            (1, 'sample_id', 'missing_required', not c.raw ? 'sample_id'),
            (2, 'full_name', 'missing_required', not c.raw ? 'full_name'),
            (
                2, 'full_name', 'name_without_diacritics',
                octet_length(c.full_name) = char_length(c.full_name) and lower(c.full_name) <> upper(c.full_name)
            ),
            (3, 'date_of_birth', 'missing_required', not c.raw ? 'date_of_birth'),
            (3, 'date_of_birth', 'invalid_date', c.raw ? 'date_of_birth' and c.date_of_birth is null),
            (4, 'gender', 'missing_required', not c.raw ? 'gender'),
            (5, 'citizen_id', 'missing_required', not c.raw ? 'citizen_id'),
            (
                5, 'citizen_id', 'invalid_citizen_id',
                c.raw ? 'citizen_id' and (c.citizen_id is null or c.id_length not in (9, 12))
            ),
            (5, 'citizen_id', 'legacy_cmnd', c.id_length = 9),
            (5, 'citizen_id', 'unknown_province_in_id', c.id_length = 12 and not c.id_province_known),
            (
                5, 'citizen_id', 'id_birth_year_mismatch',
                c.id_length = 12 and c.date_of_birth is not null
                and 1900 + 100 * (substr(c.citizen_id, 4, 1)::int / 2) + substr(c.citizen_id, 5, 2)::int
                <> extract(year from c.date_of_birth)
            ),
            (
                5, 'citizen_id', 'id_gender_mismatch',
                c.id_length = 12 and c.gender is not null
                and (mod(substr(c.citizen_id, 4, 1)::int, 2) = 0) <> (c.gender = 'male')
            ),
            (5, 'citizen_id', 'duplicate_in_file', not %(has_record_id)s and c.is_duplicate),
            (6, 'phone', 'invalid_phone', c.raw ? 'phone' and c.phone is null),
            (7, 'province_code', 'missing_required', not c.raw ? 'province_code'),
            (8, 'district_code', 'missing_required', not c.raw ? 'district_code'),
            (9, 'commune_code', 'missing_required', not c.raw ? 'commune_code'),
            (7, 'province_code', 'invalid_admin_code', c.admin_fault = 'province_code'),
            (8, 'district_code', 'invalid_admin_code', c.admin_fault = 'district_code'),
            (9, 'commune_code', 'invalid_admin_code', c.admin_fault = 'commune_code'),
            (10, 'test_type', 'missing_required', not c.raw ? 'test_type'),
            (10, 'test_type', 'invalid_test_type', c.raw ? 'test_type' and c.test_type is null),
            (12, 'sampled_at', 'missing_required', not c.raw ? 'sampled_at'),
            (12, 'sampled_at', 'invalid_date', c.raw ? 'sampled_at' and c.sampled_at is null),
            (12, 'sampled_at', 'future_date', c.sampled_at > %(received_at)s::timestamptz),
            (
                12, 'sampled_at', 'event_before_birth',
                (c.sampled_at at time zone 'Asia/Ho_Chi_Minh')::date < c.date_of_birth
            ),
            (13, 'result', 'missing_required', not c.raw ? 'result'),
            (13, 'result', 'invalid_result', c.raw ? 'result' and c.result is null),
            (
                14, 'ct_value', 'invalid_ct_value',
                c.raw ? 'ct_value'
                and (c.ct_value is null or c.ct_value not between 0 and 45 or c.test_type = 'antigen')
            ),
            (15, 'resulted_at', 'missing_required', not c.raw ? 'resulted_at'),
            (15, 'resulted_at', 'invalid_date', c.raw ? 'resulted_at' and c.resulted_at is null),
            (15, 'resulted_at', 'future_date', c.resulted_at > %(received_at)s::timestamptz),
            (15, 'resulted_at', 'result_before_sample', c.resulted_at < c.sampled_at)
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
