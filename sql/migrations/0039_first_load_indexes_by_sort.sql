-- Issue 16 (check-ins at 500k, branch e7-checkins; docs/performance.md): the first load of an empty table
-- pays its secondary indexes by sort after the rows, not by one insertion per row and index.
--
-- A fresh warehouse's first check-ins file names some 235k new persons at 500k scans: into
-- core.checkin_person (primary key, (person_kind, identifier), (phone), (changed_at)) and core.identity_link
-- (primary key, (other_kind, other_value), (first_seen_at)), the insertions into the secondary b-trees in
-- random order were about half of each insert. The check-in merge (covidsync.ingest.checkins.merge_checkins)
-- now calls core.secondary_indexes_off(table) right before the file's persons (and again before its links),
-- and core.secondary_indexes_on(...) right after: when the table is empty and can be locked at once, its
-- secondary indexes are dropped, the rows go in through the same SQL as ever (primary key kept: the insert is
-- in key order, the anti-join reads it), and the indexes are created again from their own definitions, by
-- sort, with their comments, in the same transaction. Any failure rolls the drop back with the rest.
--
-- The same rules as core.load_checkins' day built aside (0016): only a table with no row at all (the first
-- load; any later file takes the insert through the indexes), only when ACCESS EXCLUSIVE is granted at once
-- (NOWAIT: a reader or another writer on the table means the ordinary path, never a wait, so no lock queue
-- and no deadlock), and the table stays locked from there to the merge's commit (readers of persons or
-- links wait that long, once in a warehouse's life). Constraint indexes (primary keys, unique constraints)
-- stay: nothing depends on an index's oid, and names, definitions, options and comments come back the same.

create function core.secondary_indexes_off(target regclass) returns text[]
language plpgsql as $$
declare
    has_rows boolean;
    statements text[] := '{}';
    r record;
begin
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

comment on function core.secondary_indexes_off(regclass) is
'Issue 16: for the first load of an empty table, locked at once (NOWAIT) or not at all: drops its secondary (non-constraint) indexes and returns the statements that make them again (core.secondary_indexes_on); null when the table has rows or is busy.';

create function core.secondary_indexes_on(statements text[]) returns integer
language plpgsql as $$
declare
    statement text;
    n integer := 0;
begin
    foreach statement in array coalesce(statements, '{}') loop
        execute statement;
        n := n + 1;
    end loop;
    return n;
end;
$$;

comment on function core.secondary_indexes_on(text[]) is
'Issue 16: runs the statements core.secondary_indexes_off returned (indexes built by sort on the loaded rows, their comments); returns how many.';
