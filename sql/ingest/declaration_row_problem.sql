-- quarantine.row_problem for one staged declarations file (contract arrivals.md sections 1.1 and 4, with the
-- check-in codes of facility-files.md section 6): one row per (data row, code), on the first column at fault
-- in the contract's column order. raw holds the values as sent; the other columns what was read (null when
-- absent or unreadable). Origins are checked against the national list of 2021 units (ref.*), destinations
-- against it and Hòa Bình (17). Parameters: file_id, received_at.
insert into quarantine.row_problem (file_id, row_number, column_name, code, severity)
with batch as materialized (
    -- the columns the rules read, and which columns the row sent (raw, as sent, is not carried further:
    -- sorting the rows for the duplicate check with it was most of the cost)
    select
        s.row_number,
        s.declaration_id,
        s.kind,
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
        s.submitted_at,
        s.qr_kind,
        s.citizen_id,
        length(s.citizen_id) as id_length,
        s.phone,
        s.person_kind,
        s.full_name,
        s.date_of_birth,
        s.origin_province_code,
        s.origin_district_code,
        s.origin_commune_code,
        s.destination_commune_code,
        s.travel_date,
        s.raw ? 'submitted_at' as sent_submitted_at,
        s.raw ? 'citizen_id' as sent_citizen_id,
        s.raw ? 'phone' as sent_phone,
        s.raw ? 'date_of_birth' as sent_date_of_birth,
        s.raw ? 'origin_province_code' as sent_origin_province,
        s.raw ? 'origin_district_code' as sent_origin_district,
        s.raw ? 'origin_commune_code' as sent_origin_commune,
        s.raw ? 'destination_commune_code' as sent_destination,
        s.raw ? 'travel_date' as sent_travel_date
    from staging.declaration as s
    where s.file_id = %(file_id)s
),

repeated as (
    select
        b.app_code,
        b.declaration_id,
        min(b.row_number) as first_row
    from batch as b
    where b.declaration_id is not null
    group by b.app_code, b.declaration_id
    having count(*) > 1
),

checked as (
    select
        b.*,
        b.kind_word = 'movement' as is_movement,
        coalesce(b.row_number > r.first_row, false) as is_duplicate,
        p.province_code is not null as id_province_known,
        op.province_code is not null as origin_province_known,
        od.district_code is not null as origin_district_known,
        oc.commune_code is not null
        and ocd.province_code = b.origin_province_code
        and (b.origin_district_code is null or b.origin_district_code = oc.district_code) as origin_commune_known,
        dc.commune_code is not null as destination_known,
        dd.province_code = '17' as destination_in_province
    from batch as b
    left join repeated as r on b.app_code = r.app_code and b.declaration_id = r.declaration_id
    left join core.province as p
        on
            b.id_length = 12
            and left(b.citizen_id, 1) = '0'
            and substr(b.citizen_id, 2, 2) = p.province_code
    left join ref.province as op on b.origin_province_code = op.province_code
    left join ref.district as od
        on b.origin_district_code = od.district_code and b.origin_province_code = od.province_code
    left join ref.commune as oc on b.origin_commune_code = oc.commune_code
    left join ref.district as ocd on oc.district_code = ocd.district_code
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
            (3, 'submitted_at', 'missing_required', not c.sent_submitted_at),
            (3, 'submitted_at', 'invalid_date', c.sent_submitted_at and c.submitted_at is null),
            (3, 'submitted_at', 'future_date', c.submitted_at > %(received_at)s::timestamptz),
            (4, 'qr_payload', 'invalid_qr_payload', c.qr_kind = 'invalid'),
            (
                5, 'citizen_id', 'invalid_citizen_id',
                c.sent_citizen_id and (c.citizen_id is null or c.id_length not in (9, 12))
            ),
            (5, 'citizen_id', 'legacy_cmnd', c.id_length = 9),
            (5, 'citizen_id', 'unknown_province_in_id', c.id_length = 12 and not c.id_province_known),
            (6, 'phone', 'invalid_phone', c.sent_phone and c.phone is null),
            (6, '', 'missing_person_key', c.person_kind is null),
            (
                7, 'full_name', 'name_without_diacritics',
                octet_length(c.full_name) = char_length(c.full_name) and lower(c.full_name) <> upper(c.full_name)
            ),
            (8, 'date_of_birth', 'invalid_date', c.sent_date_of_birth and c.date_of_birth is null),
            (
                8, 'date_of_birth', 'event_before_birth',
                c.date_of_birth is not null and c.submitted_at is not null
                and (c.submitted_at at time zone 'Asia/Ho_Chi_Minh')::date < c.date_of_birth
            ),
            (11, 'origin_province_code', 'missing_required', c.is_movement and not c.sent_origin_province),
            (
                11, 'origin_province_code', 'unknown_origin_area',
                c.sent_origin_province
                and (
                    not c.origin_province_known
                    or (c.sent_origin_district and not c.origin_district_known)
                    or (c.sent_origin_commune and not c.origin_commune_known)
                )
            ),
            (
                14, 'destination_commune_code', 'missing_required',
                c.is_movement and not c.sent_destination
            ),
            (
                14, 'destination_commune_code', 'invalid_admin_code',
                c.sent_destination and not c.destination_known
            ),
            (
                14, 'destination_commune_code', 'destination_outside_province',
                c.is_movement and c.destination_known and not c.destination_in_province
            ),
            (15, 'travel_date', 'missing_required', c.is_movement and not c.sent_travel_date),
            (15, 'travel_date', 'invalid_date', c.sent_travel_date and c.travel_date is null)
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
