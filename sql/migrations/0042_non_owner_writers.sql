-- Two fixes for writers that are not the tables' owner (a loader role with insert and select only, as
-- tests/integration/test_destination_references.py proves a deployment may use):
--
-- 1. core.note_load_mark() (0037), the statement trigger on core.vaccination, core.test_result and
--    core.declaration, inserted into core.load_mark with the writer's rights: a writer allowed to insert into
--    core.vaccination was refused ("permission denied for table load_mark"). It now runs with its owner's
--    rights, like the statement-level reference checks of 0016 (security definer, a fixed search_path).
-- 2. core.secondary_indexes_off() (0039) would have failed the check-in merge of a non-owner at its lock or its
--    drop index: it now returns null (the ordinary insert) unless the caller may act as the table's owner.

alter function core.note_load_mark() security definer set search_path = pg_catalog, pg_temp;

create or replace function core.secondary_indexes_off(target regclass) returns text[]
language plpgsql as $$
declare
    has_rows boolean;
    statements text[] := '{}';
    r record;
begin
    -- only the table's owner may drop and create its indexes: any other writer (a role with insert and select,
    -- as a deployment may give its loader) takes the ordinary insert instead of failing the merge
    if not pg_has_role(current_user, (select c.relowner from pg_class as c where c.oid = target), 'USAGE') then
        return null;
    end if;
    execute format('select exists (select 1 from %s)', target) into has_rows;
    if has_rows then
        return null;
    end if;
    begin
        execute format('lock table %s in access exclusive mode nowait', target);
    exception when lock_not_available then
        return null;
    end;
    -- with the lock nobody else writes the table: its emptiness is now certain
    execute format('select exists (select 1 from %s)', target) into has_rows;
    if has_rows then
        return null;
    end if;
    for r in
        select
            i.indexrelid::regclass as index_name,
            pg_get_indexdef(i.indexrelid) as definition,
            obj_description(i.indexrelid, 'pg_class') as note
        from pg_index as i
        where
            i.indrelid = target
            and not exists (select from pg_constraint as c where c.conindid = i.indexrelid)
        order by i.indexrelid
    loop
        statements := statements || r.definition;
        if r.note is not null then
            statements := statements || format('comment on index %s is %L', r.index_name, r.note);
        end if;
        execute format('drop index %s', r.index_name);
    end loop;
    return statements;
end;
$$;
