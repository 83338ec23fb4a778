-- How a declarations file's `declared_by` and `means` cells are read into core.declaration (contract
-- arrivals.md §2), in one place, as core.declaration_app (0070) reads `app`: the merge of the staged rows
-- (sql/ingest/declaration_merge.sql) and the direct path (issue 16, e18-decl-direct: a file's clean rows
-- written by their batches straight into core.declaration, each distinct cell read once by these functions,
-- covidsync.ingest.declarations.CoreWords) read them the same way. Immutable SQL functions of one expression:
-- the planner inlines them, so they cost what the written-out CASEs cost.
create function core.declaration_declared_by(word text) returns text
language sql immutable parallel safe as $$
    select case
        when lower(coalesce(word, '')) in ('proxy', 'khai hộ', 'hộ', 'người khác', 'khai ho') then 'proxy'
        else 'self'
    end
$$;

comment on function core.declaration_declared_by(text) is
'Issue 24: self or proxy, as a declarations file''s declared_by cell names it (the merge and the direct path).';

create function core.declaration_means(word text) returns text
language sql immutable parallel safe as $$
    select case
        when word is null then null
        when lower(word) in ('road', 'đường bộ', 'duong bo', 'ô tô', 'xe máy', 'ô tô, xe máy') then 'road'
        when lower(word) in ('rail', 'đường sắt', 'duong sat', 'tàu hỏa', 'tàu hoả') then 'rail'
        when lower(word) in ('air', 'hàng không', 'hang khong', 'máy bay') then 'air'
        when lower(word) in ('water', 'đường thủy', 'đường thuỷ', 'duong thuy', 'tàu thủy', 'tàu thuỷ') then 'water'
        else 'other'
    end
$$;

comment on function core.declaration_means(text) is
'Issue 24: road, rail, air, water or other (null when not given), as a declarations file''s means cell names it.';
