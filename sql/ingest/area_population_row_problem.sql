-- quarantine.row_problem for one staged population registry file (adoption.md §1 and §3): one row per
-- (data row, code), on the first column at fault. A population that is not a whole number above 0, or a
-- smartphone_owners below 0 or above the population: invalid_count; an area code that is no province, or no
-- district or commune of the reference lists: unknown_area; a year that is not a year (1990-2100):
-- invalid_date; an (area, year) twice in the file: duplicate_in_file on every row after the first.
-- Parameters: file_id.
insert into quarantine.row_problem (file_id, row_number, column_name, code, severity)
with batch as (
    select
        s.*,
        s.row_number > min(s.row_number) over (partition by s.area_code, s.year) as is_duplicate,
        case length(s.area_code)
            when 2
                then
                    exists (
                        select 1 from core.province as p
                        where p.province_code = s.area_code
                    )
            when 3
                then
                    exists (
                        select 1 from core.district as d
                        where d.district_code = s.area_code
                    )
            when 5
                then
                    exists (
                        select 1 from core.commune as c
                        where c.commune_code = s.area_code
                    )
            else false
        end as area_known
    from staging.area_population as s
    where s.file_id = %(file_id)s
),

found as (
    select
        b.row_number,
        f.column_order,
        f.column_name,
        f.code
    from batch as b
    cross join
        lateral (
            values
            (1, 'area_code', 'missing_required', not b.raw ? 'area_code'),
            (1, 'area_code', 'unknown_area', b.raw ? 'area_code' and not b.area_known),
            (
                1, 'area_code', 'duplicate_in_file',
                b.area_code is not null and b.year is not null and b.is_duplicate
            ),
            (2, 'year', 'missing_required', not b.raw ? 'year'),
            (2, 'year', 'invalid_date', b.raw ? 'year' and coalesce(b.year not between 1990 and 2100, true)),
            (3, 'population', 'missing_required', not b.raw ? 'population'),
            (3, 'population', 'invalid_count', b.raw ? 'population' and coalesce(b.population <= 0, true)),
            (
                4, 'smartphone_owners', 'invalid_count',
                b.raw ? 'smartphone_owners' and (
                    coalesce(b.smartphone_owners < 0, true) or b.smartphone_owners > b.population
                )
            ),
            (5, 'source', 'missing_required', not b.raw ? 'source')
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
