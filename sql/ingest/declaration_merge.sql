-- core.declaration from one validated declarations file, in the merge's transaction: the loadable rows
-- replace the declarations with the same (app, declaration_id); the earlier versions move to
-- core.declaration_history (unless they came from this very file: a reprocess first takes back what its
-- earlier load put in core). Origins are placed on the national list (origin_known), destinations on Hòa
-- Bình (destination_in_province). Parameters: file_id.
delete from core.declaration
where source_file_id = %(file_id)s;

create temporary table declaration_rows on commit drop as
with warned as (
    select
        q.row_number,
        array_agg(q.code order by q.code) as codes
    from quarantine.row_problem as q
    where q.file_id = %(file_id)s
    group by q.row_number
)

select
    case
        when
            lower(coalesce(l.app, '')) in (
                'sskdt', 'sskđt', 'sổ skđt', 'so skdt', 'sổ sức khỏe điện tử', 'sổ sức khoẻ điện tử',
                'so suc khoe dien tu'
            )
            then 'sskdt'
        else 'pccovid'
    end as app,
    l.declaration_id,
    lower(l.kind) as kind,
    l.submitted_at,
    l.person_kind,
    k.person_key,
    case
        when lower(coalesce(l.declared_by, '')) in ('proxy', 'khai hộ', 'hộ', 'người khác', 'khai ho') then 'proxy'
        else 'self'
    end as declared_by,
    l.origin_province_code,
    l.origin_district_code,
    l.origin_commune_code,
    case
        when l.origin_province_code is null and lower(l.kind) = 'health' then null
        else not coalesce('unknown_origin_area' = any(w.codes), false)
    end as origin_known,
    l.destination_commune_code,
    case
        when l.destination_commune_code is null then null
        else coalesce(dd.province_code = '17', false)
    end as destination_in_province,
    l.travel_date,
    case
        when l.means is null then null
        when lower(l.means) in ('road', 'đường bộ', 'duong bo', 'ô tô', 'xe máy', 'ô tô, xe máy') then 'road'
        when lower(l.means) in ('rail', 'đường sắt', 'duong sat', 'tàu hỏa', 'tàu hoả') then 'rail'
        when lower(l.means) in ('air', 'hàng không', 'hang khong', 'máy bay') then 'air'
        when lower(l.means) in ('water', 'đường thủy', 'đường thuỷ', 'duong thuy', 'tàu thủy', 'tàu thuỷ') then 'water'
        else 'other'
    end as means,
    l.fever,
    l.cough,
    l.shortness_of_breath,
    l.sore_throat,
    l.loss_of_taste_or_smell,
    l.contact_with_f0,
    l.visited_outbreak_area,
    coalesce(l.fever or l.cough or l.shortness_of_breath or l.sore_throat or l.loss_of_taste_or_smell, false)
        as symptoms_reported,
    coalesce(w.codes, '{}') as warnings,
    l.file_id as source_file_id,
    l.row_number as source_row
from staging.declaration_loadable as l
inner join declaration_person_key as k on l.person_kind = k.person_kind and l.identifier = k.identifier
left join warned as w on l.row_number = w.row_number
left join ref.commune as dc on l.destination_commune_code = dc.commune_code
left join ref.district as dd on dc.district_code = dd.district_code
where l.file_id = %(file_id)s;

with replaced as (
    delete from core.declaration as d
    using declaration_rows as r
    where d.app = r.app and d.declaration_id = r.declaration_id
    returning d.*
)

insert into core.declaration_history
select
    r.*,
    now() as replaced_at,
    %(file_id)s as replaced_by_file_id
from replaced as r
where r.source_file_id <> %(file_id)s;

insert into core.declaration (
    app, declaration_id, kind, submitted_at, person_kind, person_key, declared_by, origin_province_code,
    origin_district_code, origin_commune_code, origin_known, destination_commune_code, destination_in_province,
    travel_date, means, fever, cough, shortness_of_breath, sore_throat, loss_of_taste_or_smell, contact_with_f0,
    visited_outbreak_area, symptoms_reported, warnings, source_file_id, source_row
)
select
    r.app,
    r.declaration_id,
    r.kind,
    r.submitted_at,
    r.person_kind,
    r.person_key,
    r.declared_by,
    r.origin_province_code,
    r.origin_district_code,
    r.origin_commune_code,
    r.origin_known,
    r.destination_commune_code,
    r.destination_in_province,
    r.travel_date,
    r.means,
    r.fever,
    r.cough,
    r.shortness_of_breath,
    r.sore_throat,
    r.loss_of_taste_or_smell,
    r.contact_with_f0,
    r.visited_outbreak_area,
    r.symptoms_reported,
    r.warnings,
    r.source_file_id,
    r.source_row
from declaration_rows as r;

drop table declaration_rows;
