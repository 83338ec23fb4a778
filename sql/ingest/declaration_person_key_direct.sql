-- checkin_person_key.sql's table of person keys for a declarations file read straight into core (issue 16,
-- e18-decl-direct): one row per distinct person key among its loadable rows, the staged ones
-- (staging.declaration_loadable) and those written into core by their batches, which come here counted per
-- person and batch, written with each batch (pg_temp.declaration_direct_person: the staged pseudonym, the first
-- and last submission, the rows; a person of several batches has a row each, summed here). Every row of such a file was staged by this code with its pseudonym (no older stage:
-- the file was received), so no pseudonym is computed here. Parameters: file_id.
create temporary table declaration_person_key on commit drop as
select
    k.person_kind,
    k.identifier,
    min(k.person_key collate "C") as person_key,  -- noqa: RF03
    min(k.first_seen_at) as first_seen_at,
    max(k.last_seen_at) as last_seen_at,
    sum(k.loadable_rows)::bigint as loadable_rows
from (
    select
        l.person_kind,
        l.identifier,
        l.person_key,
        l.submitted_at as first_seen_at,
        l.submitted_at as last_seen_at,
        1::bigint as loadable_rows
    from staging.declaration_loadable as l
    where l.file_id = %(file_id)s
    union all
    select
        d.person_kind,
        d.identifier,
        d.person_key,
        d.first_seen_at,
        d.last_seen_at,
        d.loadable_rows
    from pg_temp.declaration_direct_person as d
) as k
group by k.person_kind, k.identifier
