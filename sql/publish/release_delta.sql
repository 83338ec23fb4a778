-- publish.release_delta for the release being built: one row per person added, changed (a different row
-- hash) or removed (a tombstone) against the previous published release (none for the first release: every
-- row is added). Parameters: release_id, previous_release_id (null for the first).
insert into publish.release_delta (release_id, citizen_id, change)
with previous as (
    select
        citizen_id,
        row_sha256
    from publish.release_row
    where release_id = %(previous_release_id)s
),

candidate as (
    select
        citizen_id,
        row_sha256
    from publish.release_row
    where release_id = %(release_id)s
)

select
    %(release_id)s,
    coalesce(c.citizen_id, p.citizen_id),
    case
        when p.citizen_id is null then 'added'
        when c.citizen_id is null then 'removed'
        else 'changed'
    end
from candidate as c
full outer join previous as p on c.citizen_id = p.citizen_id
where c.row_sha256 is distinct from p.row_sha256;
