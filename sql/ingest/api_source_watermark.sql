-- ops.api_source.watermark of one source (one row), advanced by one step: to the largest updated_at of
-- a merged batch that asked from at or before the current watermark (so no records are skipped), and
-- is newer than the batch that last moved it (so a watermark an operator set back stays set back).
-- Returns the new watermark, or no row when no merged batch moves it on; the caller repeats until then.
-- Parameters: source_id.
with step as (
    select
        b.file_id,
        b.max_updated_at
    from ops.api_batch as b
    inner join ops.landing_file as f on b.file_id = f.file_id
    inner join ops.api_source as s on b.source_id = s.source_id
    where
        b.source_id = %(source_id)s
        and f.status = 'merged'
        and b.file_id > coalesce(s.watermark_file_id, 0)
        and b.max_updated_at > coalesce(s.watermark, '-infinity'::timestamptz)
        and coalesce(b.updated_since, '-infinity'::timestamptz) <= coalesce(s.watermark, '-infinity'::timestamptz)
    order by b.max_updated_at desc
    limit 1
)

update ops.api_source as s
set
    watermark = step.max_updated_at,
    watermark_file_id = step.file_id,
    updated_at = now()
from step
where s.source_id = %(source_id)s
returning s.watermark;
