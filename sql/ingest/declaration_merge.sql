-- core.declaration from one validated declarations file, in the merge's transaction: the loadable rows
-- replace the declarations with the same (app, declaration_id); the earlier versions move to
-- core.declaration_history (unless they came from this very file: a reprocess first takes back what its
-- earlier load put in core). Origins are placed on the national list (origin_known), destinations on Hòa
-- Bình (destination_in_province). Parameters: file_id.
--
-- Issues 24 and 16 (throughput, e15-arrivals-direct): the person key, the warnings, origin_known and
-- destination_in_province are staged with the row (migration 0060; sql/ingest/declaration_staged_fill.sql
-- for rows an older stage wrote), so the loadable rows go into core.declaration in one INSERT ... SELECT:
-- no temporary table of the file's rows, no join to person keys, codes or communes (1.0-1.4 s of a 100k
-- file's merge under load). The declarations a resent id replaces are found from the staged keys first; on a
-- warehouse's first load core.declaration is empty and that join reads nothing of staging.
-- (not on the direct path, take_back false: its take-back ran first, and the file's clean rows are in core already)
delete from core.declaration
where source_file_id = %(file_id)s and %(take_back)s;

with replaced as (
    delete from core.declaration as d
    using (
        select
            core.declaration_app(l.app) as app,
            l.declaration_id
        from staging.declaration_loadable as l
        where l.file_id = %(file_id)s and l.person_key is not null
    ) as r
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
    core.declaration_app(l.app) as app,
    l.declaration_id,
    lower(l.kind) as kind,
    l.submitted_at,
    l.person_kind,
    l.person_key,
    core.declaration_declared_by(l.declared_by) as declared_by,
    l.origin_province_code,
    l.origin_district_code,
    l.origin_commune_code,
    l.origin_known,
    l.destination_commune_code,
    l.destination_in_province,
    l.travel_date,
    core.declaration_means(l.means) as means,
    l.fever,
    l.cough,
    l.shortness_of_breath,
    l.sore_throat,
    l.loss_of_taste_or_smell,
    l.contact_with_f0,
    l.visited_outbreak_area,
    coalesce(l.fever or l.cough or l.shortness_of_breath or l.sore_throat or l.loss_of_taste_or_smell, false)
        as symptoms_reported,
    l.warnings,
    l.file_id as source_file_id,
    l.row_number as source_row
from staging.declaration_loadable as l
-- a row without a person key has no pseudonym: never loaded (it has the error missing_person_key)
where l.file_id = %(file_id)s and l.person_key is not null;
