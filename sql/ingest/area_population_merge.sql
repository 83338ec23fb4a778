-- core.area_population from one file: one row per (area, year). An (area, year) already there with other
-- figures is replaced and its earlier figures move to core.area_population_history (latest file wins,
-- history kept), unless they came from a file received after this one. The same figures again change
-- nothing. Parameters: file_id, received_at.
insert into core.area_population_history (
    area_code, year, population, smartphone_owners, source, source_file_id, loaded_at, replaced_by_file_id
)
select
    a.area_code,
    a.year,
    a.population,
    a.smartphone_owners,
    a.source,
    a.source_file_id,
    a.loaded_at,
    l.file_id as replaced_by_file_id
from staging.area_population_loadable as l
inner join core.area_population as a on l.area_code = a.area_code and l.year = a.year
left join ops.landing_file as f on a.source_file_id = f.file_id
where
    l.file_id = %(file_id)s
    and (a.population, a.smartphone_owners, a.source)
    is distinct from (l.population, l.smartphone_owners, l.source)
    and coalesce(f.received_at <= %(received_at)s::timestamptz, true);

insert into core.area_population as a (area_code, year, population, smartphone_owners, source, source_file_id)
select
    l.area_code,
    l.year,
    l.population,
    l.smartphone_owners,
    l.source,
    l.file_id as source_file_id
from staging.area_population_loadable as l
where l.file_id = %(file_id)s
on conflict (area_code, year) do update set
    population = excluded.population,
    smartphone_owners = excluded.smartphone_owners,
    source = excluded.source,
    source_file_id = excluded.source_file_id,
    loaded_at = now()
-- a is the row in conflict (sqlfluff cannot see the alias of the insert's target)
where
(a.population, a.smartphone_owners, a.source)  -- noqa: RF01
is distinct from (excluded.population, excluded.smartphone_owners, excluded.source)
and coalesce((
    select f.received_at from ops.landing_file as f
    where f.file_id = a.source_file_id  -- noqa: RF01
) <= %(received_at)s::timestamptz, true)
