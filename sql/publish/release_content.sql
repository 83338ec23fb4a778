-- The content hash of release release_id (contract §6, unchanged since the snapshot design): SHA-256 of its
-- `citizen_id<TAB>row_sha256` lines in citizen_id order, and its row count. The one pass over every row a release
-- still makes: a SHA-256 of the whole cannot be updated from the changes (docs/performance.md, "release passes").
-- It reads two narrow columns only (no line of any view is built).
-- Parameters: release_id.
select
    count(*) as row_count,
    encode(sha256(convert_to(coalesce(string_agg(s.line, ''), ''), 'UTF8')), 'hex') as content_sha256
from (
    select v.citizen_id || E'\t' || v.row_sha256 || E'\n' as line
    from publish.release_version as v
    where
        v.valid_from <= %(release_id)s
        and (v.valid_to is null or v.valid_to > %(release_id)s)
    order by v.citizen_id
) as s;
