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
create unique index landing_file_sha256_original on ops.landing_file (sha256) where duplicate_of is null
and status <> 'rejected';

-- 3. A view created (or replaced) in schema publish later is made a security barrier at once, by an event
--    trigger, so a later migration cannot forget it ("create or replace view" without the option would
--    otherwise drop it). Event triggers need a superuser: where the migrating role is not one, the trigger is
--    skipped and the test of every consumer view is the guard.
create or replace function ops.publish_views_are_barriers() returns event_trigger
language plpgsql as $$
declare
    obj record;
begin
    for obj in select * from pg_event_trigger_ddl_commands()
        where object_type = 'view' and schema_name = 'publish'
    loop
        if not coalesce((select 'security_barrier=true' = any(reloptions) from pg_catalog.pg_class
                         where oid = obj.objid), false) then
            execute format('alter view %s set (security_barrier = true)', obj.objid::regclass);
        end if;
    end loop;
end
$$;

do $$
begin
    if (select rolsuper from pg_catalog.pg_roles where rolname = current_user) then
        drop event trigger if exists publish_views_are_barriers;
        create event trigger publish_views_are_barriers on ddl_command_end
            when tag in ('CREATE VIEW')
            execute function ops.publish_views_are_barriers();
    end if;
end
$$;
