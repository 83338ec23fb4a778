-- core.venue from one file: one row per venue_code, the version of the latest file received (a file
-- received earlier but processed later does not overwrite a newer version); venue_type is one of adoption.md's
-- eight types. Parameters: file_id, received_at.
insert into core.venue as v (
    venue_code, name, province_code, district_code, commune_code, address, venue_type, source_file_id,
    source_row
)
select
    l.venue_code,
    l.name,
    l.province_code,
    l.district_code,
    l.commune_code,
    l.address,
    -- read from its words (staging: the contract's type, null when the word is unknown); an unknown word: other
    coalesce(l.venue_type, case when l.raw ? 'venue_type' then 'other' end) as venue_type,
    l.file_id as source_file_id,
    l.row_number as source_row
from staging.venue_loadable as l
where l.file_id = %(file_id)s
on conflict (venue_code) do update set
    name = excluded.name,
    province_code = excluded.province_code,
    district_code = excluded.district_code,
    commune_code = excluded.commune_code,
    address = excluded.address,
    venue_type = excluded.venue_type,
    source_file_id = excluded.source_file_id,
    source_row = excluded.source_row,
    loaded_at = now()
-- v is the row in conflict (sqlfluff cannot see the alias of the insert's target)
where (
    select f.received_at from ops.landing_file as f
    where f.file_id = v.source_file_id  -- noqa: RF01
) <= %(received_at)s::timestamptz
