-- The values of a core row that the stage computes (migration 0060: person_key, warnings, origin_known,
-- destination_in_province), filled in for the rows of one declarations file that an older stage wrote (a file
-- held before the migration and released after), exactly as the merge computed them before: the pseudonym as
-- covidsync.privacy.SQL_PSEUDONYM (HMAC-SHA256), the row's codes in code order, an origin placed unless the row
-- has unknown_origin_area (null for a health declaration without one), a destination in Hòa Bình (17).
-- The merge runs this only when such a row exists. Parameters: file_id, hmac_ikey, hmac_okey.
update staging.declaration as s set
    person_key = case
        when s.person_kind is not null and s.identifier is not null
            then encode(
                sha256(
                    %(hmac_okey)s || sha256(%(hmac_ikey)s || convert_to(s.person_kind || ':' || s.identifier, 'UTF8'))
                ),
                'hex'
            )
    end,
    warnings = coalesce(
        (
            select array_agg(q.code order by q.code) from quarantine.row_problem as q
            where q.file_id = s.file_id and q.row_number = s.row_number
        ),
        '{}'
    ),
    origin_known = case
        when s.origin_province_code is null and lower(s.kind) = 'health' then null
        else not exists (
            select 1 from quarantine.row_problem as q
            where q.file_id = s.file_id and q.row_number = s.row_number and q.code = 'unknown_origin_area'
        )
    end,
    destination_in_province = case
        when s.destination_commune_code is null then null
        else coalesce(
            (
                select d.province_code = '17'
                from ref.commune as c
                inner join ref.district as d on c.district_code = d.district_code
                where c.commune_code = s.destination_commune_code
            ),
            false
        )
    end
where s.file_id = %(file_id)s and s.warnings is null
