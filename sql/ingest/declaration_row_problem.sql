-- quarantine.row_problem for one staged declarations file (contract arrivals.md sections 1.1 and 4, with the
-- check-in codes of facility-files.md section 6): one row per (data row, code), on the first column at fault
-- in the contract's column order. raw holds the values as sent; the other columns what was read (null when
-- absent or unreadable). Origins are checked against the national list of 2021 units (ref.*), destinations
-- against it and Hòa Bình (17). Parameters: file_id, received_at.
insert into quarantine.row_problem (file_id, row_number, column_name, code, severity)
with batch as (
    select
        s.*,
        lower(s.kind) as kind_word,
        case
            when
                lower(coalesce(s.app, '')) in (
                    'sskdt', 'sskđt', 'sổ skđt', 'so skdt', 'sổ sức khỏe điện tử', 'sổ sức khoẻ điện tử',
                    'so suc khoe dien tu'
                )
                then 'sskdt'
            else 'pccovid'
        end as app_code,
        length(s.citizen_id) as id_length
    from staging.declaration as s
    where s.file_id = %(file_id)s
),

checked as (
    select
        b.*,
        b.kind_word = 'movement' as is_movement,
        b.declaration_id is not null
        and b.row_number > min(b.row_number) over (partition by b.app_code, b.declaration_id) as is_duplicate,
        p.province_code is not null as id_province_known,
        op.province_code is not null as origin_province_known,
        od.district_code is not null as origin_district_known,
        oc.commune_code is not null as origin_commune_known,
        dc.commune_code is not null as destination_known,
        dd.province_code = '17' as destination_in_province
    from batch as b
    left join core.province as p
        on
            b.id_length = 12
            and left(b.citizen_id, 1) = '0'
            and substr(b.citizen_id, 2, 2) = p.province_code
    left join ref.province as op on b.origin_province_code = op.province_code
    left join ref.district as od
        on b.origin_district_code = od.district_code and b.origin_province_code = od.province_code
    left join ref.commune as oc
        on
            b.origin_commune_code = oc.commune_code
            and (b.origin_district_code is null or b.origin_district_code = oc.district_code)
            and exists (
                select 1 from ref.district as x
                where x.district_code = oc.district_code and x.province_code = b.origin_province_code
            )
    left join ref.commune as dc on b.destination_commune_code = dc.commune_code
    left join ref.district as dd on dc.district_code = dd.district_code
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
            (0, 'declaration_id', 'missing_required', c.declaration_id is null),
            (0, 'declaration_id', 'duplicate_in_file', c.is_duplicate),
            (1, 'kind', 'missing_required', c.kind is null),
            (
                1, 'kind', 'invalid_declaration_kind',
                c.kind is not null and c.kind_word not in ('movement', 'health')
            ),
            (3, 'submitted_at', 'missing_required', not c.raw ? 'submitted_at'),
            (3, 'submitted_at', 'invalid_date', c.raw ? 'submitted_at' and c.submitted_at is null),
            (3, 'submitted_at', 'future_date', c.submitted_at > %(received_at)s::timestamptz),
            (4, 'qr_payload', 'invalid_qr_payload', c.qr_kind = 'invalid'),
            (
                5, 'citizen_id', 'invalid_citizen_id',
                c.raw ? 'citizen_id' and (c.citizen_id is null or c.id_length not in (9, 12))
            ),
            (5, 'citizen_id', 'legacy_cmnd', c.id_length = 9),
            (5, 'citizen_id', 'unknown_province_in_id', c.id_length = 12 and not c.id_province_known),
            (6, 'phone', 'invalid_phone', c.raw ? 'phone' and c.phone is null),
            (6, '', 'missing_person_key', c.person_kind is null),
            (
                7, 'full_name', 'name_without_diacritics',
                octet_length(c.full_name) = char_length(c.full_name) and lower(c.full_name) <> upper(c.full_name)
            ),
            (8, 'date_of_birth', 'invalid_date', c.raw ? 'date_of_birth' and c.date_of_birth is null),
            (
                8, 'date_of_birth', 'event_before_birth',
                c.date_of_birth is not null and c.submitted_at is not null
                and (c.submitted_at at time zone 'Asia/Ho_Chi_Minh')::date < c.date_of_birth
            ),
            (11, 'origin_province_code', 'missing_required', c.is_movement and not c.raw ? 'origin_province_code'),
            (
                11, 'origin_province_code', 'unknown_origin_area',
                c.raw ? 'origin_province_code'
                and (
                    not c.origin_province_known
                    or (c.raw ? 'origin_district_code' and not c.origin_district_known)
                    or (c.raw ? 'origin_commune_code' and not c.origin_commune_known)
                )
            ),
            (
                14, 'destination_commune_code', 'missing_required',
                c.is_movement and not c.raw ? 'destination_commune_code'
            ),
            (
                14, 'destination_commune_code', 'invalid_admin_code',
                c.raw ? 'destination_commune_code' and not c.destination_known
            ),
            (
                14, 'destination_commune_code', 'destination_outside_province',
                c.is_movement and c.destination_known and not c.destination_in_province
            ),
            (15, 'travel_date', 'missing_required', c.is_movement and not c.raw ? 'travel_date'),
            (15, 'travel_date', 'invalid_date', c.raw ? 'travel_date' and c.travel_date is null)
        ) as f (column_order, column_name, code, hit)
    where f.hit
)

select distinct on (fo.row_number, fo.code)
    %(file_id)s as file_id,
    fo.row_number,
    fo.column_name,
    fo.code,
    rc.severity
from found as fo
inner join ops.row_code as rc on fo.code = rc.code
order by fo.row_number asc, fo.code asc, fo.column_order asc
