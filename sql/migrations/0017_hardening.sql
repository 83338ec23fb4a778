-- Hardening (issue 17).
--
-- 1. Every published view is a security barrier: a reader's own function in a WHERE clause (a cheap
--    pg_temp function that logs its argument) is never evaluated before the view's own conditions, so it
--    sees only the rows the view shows (the current release), never the rows of superseded or held
--    releases underneath. Every view in schema publish, whoever granted it: a view added later must be
--    created "with (security_barrier)" too (tests/integration/test_publish_barrier.py checks every view
--    granted to a consumer role).
do $$
declare
    v regclass;
begin
    for v in
        select c.oid::regclass
        from pg_catalog.pg_class as c
        join pg_catalog.pg_namespace as n on n.oid = c.relnamespace
        where n.nspname = 'publish' and c.relkind = 'v'
    loop
        execute format('alter view %s set (security_barrier = true)', v);
    end loop;
end
$$;

-- 2. A rejected file does not make later copies of its bytes duplicates (issue 17, items 1 and 8): a file
--    refused for its place (unknown_facility), for being empty, or replaced before it was read
--    (file_replaced) is judged again when the same bytes come back, and may load then. The bytes taken
--    (loaded, held or waiting) stay unique among originals.
drop index ops.landing_file_sha256_original;
create unique index landing_file_sha256_original on ops.landing_file (sha256)
    where duplicate_of is null and status <> 'rejected';
