-- mart.vaccination_coverage: one row per area (province, district, commune of the person's residence, else of
-- the record), day, dose number and product ('all' = every product). Rebuilt whole.
delete from mart.vaccination_coverage;

insert into mart.vaccination_coverage (
    area_level, area_code, area_name, day, dose_number, product_code,
    doses_given, people_cumulative, population, coverage_pct
)
with dose as (
    select
        d.dose_number,
        d.vaccinated_on as day,
        d.product_code,
        coalesce(p.province_code, v.province_code) as province_code,
        coalesce(p.district_code, v.district_code) as district_code,
        coalesce(p.commune_code, v.commune_code) as commune_code
    from derived.vaccination_dose as d
    inner join derived.person as p on d.person_id = p.person_id
    left join core.vaccination as v on d.vaccination_id = v.vaccination_id
),

by_area as (
    select
        'province' as area_level,
        province_code as area_code,
        day,
        dose_number,
        product_code
    from dose
    where province_code is not null
    union all
    select
        'district',
        district_code,
        day,
        dose_number,
        product_code
    from dose
    where district_code is not null
    union all
    select
        'commune',
        commune_code,
        day,
        dose_number,
        product_code
    from dose
    where commune_code is not null
),

any_product as (
    select
        area_level,
        area_code,
        day,
        dose_number,
        product_code
    from by_area
    union all
    select
        area_level,
        area_code,
        day,
        dose_number,
        'all'
    from by_area
),

daily as (
    select
        area_level,
        area_code,
        day,
        dose_number,
        product_code,
        count(*) as doses_given
    from any_product
    group by area_level, area_code, day, dose_number, product_code
),

cumulative as (
    select
        daily.*,
        sum(daily.doses_given) over (
            partition by daily.area_level, daily.area_code, daily.dose_number, daily.product_code
            order by daily.day
        ) as people_cumulative
    from daily
),

-- the denominator: the figure an operator put in mart.population, else the latest year of the population
-- registry (landing/registry/population.csv, adoption.md: core.area_population)
registry as (
    select distinct on (ap.area_code)
        ap.area_level,
        ap.area_code,
        ap.population
    from core.area_population as ap
    order by ap.area_code asc, ap.year desc
),

denominator as (
    select
        mp.area_level,
        mp.area_code,
        mp.population
    from mart.population as mp
    union all
    select
        r.area_level,
        r.area_code,
        r.population
    from registry as r
    where
        not exists (
            select from mart.population as mp
            where mp.area_level = r.area_level and mp.area_code = r.area_code
        )
)

select
    c.area_level,
    c.area_code,
    coalesce(pr.name, di.name, co.name) as area_name,
    c.day,
    c.dose_number,
    c.product_code,
    c.doses_given,
    c.people_cumulative,
    pop.population,
    round(100.0 * c.people_cumulative / pop.population, 2) as coverage_pct
from cumulative as c
left join core.province as pr on c.area_level = 'province' and c.area_code = pr.province_code
left join core.district as di on c.area_level = 'district' and c.area_code = di.district_code
left join core.commune as co on c.area_level = 'commune' and c.area_code = co.commune_code
left join denominator as pop on c.area_level = pop.area_level and c.area_code = pop.area_code;
