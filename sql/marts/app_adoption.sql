-- mart.app_adoption: PC-Covid users per area (commune, district, province) and day up to as_of_day, over the
-- latest population figures of the area (the latest year not after the day's year), the change over 7 days,
-- and the national rank of each province present in the day's extract. A district or the province takes the
-- operator's own row when there is one, else the sum of its communes (districts). Rebuilt whole.
-- Parameters: as_of_day.
delete from mart.app_adoption;

insert into mart.app_adoption (
    area_level, area_code, area_name, day, registered_users, active_users_7d, population, device_owners,
    registered_share_population, registered_share_devices, active_share_population, registered_change_7d,
    national_rank, provinces_ranked
)
with counted as (
    select
        a.day,
        a.area_code,
        a.area_level,
        a.registered_users,
        a.active_users_7d
    from core.app_user_count as a
    where a.day <= %(as_of_day)s
),

commune as (
    select
        c.day,
        'commune' as area_level,
        c.area_code,
        c.registered_users,
        c.active_users_7d
    from counted as c
    where c.area_level = 'commune'
),

district_sum as (
    select
        c.day,
        m.district_code,
        sum(c.registered_users)::integer as registered_users,
        sum(c.active_users_7d)::integer as active_users_7d
    from commune as c
    inner join core.commune as m on c.area_code = m.commune_code
    group by c.day, m.district_code
),

district as (
    select
        coalesce(o.day, s.day) as day,
        'district' as area_level,
        coalesce(o.area_code, s.district_code) as area_code,
        coalesce(o.registered_users, s.registered_users) as registered_users,
        coalesce(o.active_users_7d, s.active_users_7d) as active_users_7d
    from district_sum as s
    full outer join counted as o
        on s.day = o.day and s.district_code = o.area_code and o.area_level = 'district'
    where o.area_level = 'district' or o.area_level is null
),

province_sum as (
    select
        d.day,
        m.province_code,
        sum(d.registered_users)::integer as registered_users,
        sum(d.active_users_7d)::integer as active_users_7d
    from district as d
    inner join core.district as m on d.area_code = m.district_code
    group by d.day, m.province_code
),

province as (
    select
        coalesce(o.day, s.day) as day,
        'province' as area_level,
        coalesce(o.area_code, s.province_code) as area_code,
        coalesce(o.registered_users, s.registered_users) as registered_users,
        coalesce(o.active_users_7d, s.active_users_7d) as active_users_7d
    from province_sum as s
    full outer join counted as o
        on s.day = o.day and s.province_code = o.area_code and o.area_level = 'province'
    where o.area_level = 'province' or o.area_level is null
),

area as (
    select * from commune
    union all
    select * from district
    union all
    select * from province
),

ranked as (
    select
        a.*,
        case
            when a.area_level = 'province'
                then rank() over (partition by a.day, a.area_level order by a.registered_users desc)
        end as national_rank,
        case
            when a.area_level = 'province' then count(*) over (partition by a.day, a.area_level)
        end as provinces_ranked
    from area as a
)

select
    r.area_level,
    r.area_code,
    coalesce(pv.name, ds.name, cm.name) as area_name,
    r.day,
    r.registered_users,
    r.active_users_7d,
    p.population,
    p.smartphone_owners,
    round(r.registered_users::numeric / p.population, 4),
    round(r.registered_users::numeric / nullif(p.smartphone_owners, 0), 4),
    round(r.active_users_7d::numeric / p.population, 4),
    r.registered_users - w.registered_users,
    case when r.provinces_ranked > 1 then r.national_rank end,
    case when r.provinces_ranked > 1 then r.provinces_ranked end
from ranked as r
left join lateral (
    select
        ap.population,
        ap.smartphone_owners
    from core.area_population as ap
    where ap.area_code = r.area_code and ap.year <= extract(year from r.day)
    order by ap.year desc
    limit 1
) as p on true
left join ranked as w on r.area_level = w.area_level and r.area_code = w.area_code and w.day = r.day - 7
left join core.province as pv on r.area_level = 'province' and r.area_code = pv.province_code
left join core.district as ds on r.area_level = 'district' and r.area_code = ds.district_code
left join core.commune as cm on r.area_level = 'commune' and r.area_code = cm.commune_code;
