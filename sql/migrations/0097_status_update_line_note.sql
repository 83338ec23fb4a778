-- A status row updated in place notes its view line stale only when a shown value changed (issue 19, branch
-- s8-status). The status build wrote each changed row of a touched person as a deletion and an insertion: the
-- deletion's trigger noted every such person and kept its shown values, the insertion's took the note out again
-- for those put back unchanged (0082), and the deletion itself read the whole status table. It now updates the
-- rows in place (sql/status/health_status.sql); this trigger's update branch for derived.health_status compares
-- each row's shown values before and after, as publish.note_changed_persons does (0023), and notes only the
-- persons whose shown values differ. Every other branch is 0082's, unchanged.

create or replace function derived.note_line_persons() returns trigger
language plpgsql as $$
declare
    n bigint;
    kept boolean;
    put_back bigint [];
begin
    if (select all_stale from derived.person_line_state) then
        update derived.person_line_state set all_stale = true;
        return null;
    end if;
    if tg_op = 'INSERT' then
        select count(*) into n from new_rows;
    else
        select count(*) into n from old_rows;
    end if;
    if n > derived.line_note_limit() then
        update derived.person_line_state set all_stale = true;
        return null;
    end if;
    kept := to_regclass('pg_temp.line_rewrite') is not null;
    if tg_table_name = 'health_status' and tg_op = 'DELETE' then
        create temporary table if not exists line_rewrite on commit drop as
        select
            person_id, rule_set, doses, last_dose_on, last_dose_product, fully_vaccinated, card_colour,
            latest_test_type, latest_test_result, latest_test_sampled_at, f0, contact_candidate, recovered_on
        from derived.health_status with no data;
        -- a person already noted (before, or by another write in between) keeps the note whatever follows
        delete from pg_temp.line_rewrite as w where w.person_id in (select o.person_id from old_rows as o);
        with noted as (
            insert into derived.person_line_stale (person_id)
            select distinct person_id from old_rows where person_id is not null
            on conflict do nothing
            returning person_id
        )
        insert into pg_temp.line_rewrite
        select
            o.person_id, o.rule_set, o.doses, o.last_dose_on, o.last_dose_product, o.fully_vaccinated,
            o.card_colour, o.latest_test_type, o.latest_test_result, o.latest_test_sampled_at, o.f0,
            o.contact_candidate, o.recovered_on
        from old_rows as o
        where o.person_id in (select noted.person_id from noted);
        return null;
    end if;
    if tg_table_name = 'health_status' and tg_op = 'INSERT' and kept then
        -- the persons whose inserted rows are exactly the rows their deletion kept (each way): un-noted
        with back as (
            select
                person_id, rule_set, doses, last_dose_on, last_dose_product, fully_vaccinated, card_colour,
                latest_test_type, latest_test_result, latest_test_sampled_at, f0, contact_candidate, recovered_on
            from new_rows
            where person_id in (select w.person_id from pg_temp.line_rewrite as w)
        ),
        differ as (
            (select * from back except select * from pg_temp.line_rewrite)
            union
            (
                select * from pg_temp.line_rewrite as w where w.person_id in (select b.person_id from back as b)
                except
                select * from back
            )
        )
        select coalesce(array_agg(distinct b.person_id), '{}') into put_back
        from back as b
        where not exists (select from differ as d where d.person_id = b.person_id);
        delete from derived.person_line_stale where person_id = any(put_back);
        delete from pg_temp.line_rewrite as w where w.person_id in (select b.person_id from new_rows as b);
        -- the others noted (a put-back row is not new)
        insert into derived.person_line_stale (person_id)
        select distinct b.person_id from new_rows as b
        where
            b.person_id is not null
            and not exists (select from unnest(put_back) as u (person_id) where u.person_id = b.person_id)
        on conflict do nothing;
        return null;
    end if;
    if tg_table_name = 'health_status' and tg_op = 'UPDATE' then
        -- a row updated in place (the status build: sql/status/health_status.sql) notes its person only when a
        -- shown value changed, as a row deleted and put back with the same shown values leaves no note; a kept
        -- deleted row of the person is forgotten (its note, and any note from before, stays)
        if kept then
            delete from pg_temp.line_rewrite as w where w.person_id in (select o.person_id from old_rows as o);
        end if;
        insert into derived.person_line_stale (person_id)
        select d.person_id from (
            (
                select
                    person_id, rule_set, doses, last_dose_on, last_dose_product, fully_vaccinated, card_colour,
                    latest_test_type, latest_test_result, latest_test_sampled_at, f0, contact_candidate, recovered_on
                from old_rows
                except
                select
                    person_id, rule_set, doses, last_dose_on, last_dose_product, fully_vaccinated, card_colour,
                    latest_test_type, latest_test_result, latest_test_sampled_at, f0, contact_candidate, recovered_on
                from new_rows
            )
            union
            (
                select
                    person_id, rule_set, doses, last_dose_on, last_dose_product, fully_vaccinated, card_colour,
                    latest_test_type, latest_test_result, latest_test_sampled_at, f0, contact_candidate, recovered_on
                from new_rows
                except
                select
                    person_id, rule_set, doses, last_dose_on, last_dose_product, fully_vaccinated, card_colour,
                    latest_test_type, latest_test_result, latest_test_sampled_at, f0, contact_candidate, recovered_on
                from old_rows
            )
        ) as d
        where d.person_id is not null
        on conflict do nothing;
        return null;
    end if;
    if kept then  -- another write of these persons: their kept rows are forgotten, their notes stay
        if tg_op = 'INSERT' then
            delete from pg_temp.line_rewrite as w where w.person_id in (select b.person_id from new_rows as b);
        else
            delete from pg_temp.line_rewrite as w where w.person_id in (select o.person_id from old_rows as o);
        end if;
    end if;
    if tg_op = 'INSERT' then
        insert into derived.person_line_stale (person_id)
        select distinct person_id from new_rows where person_id is not null
        on conflict do nothing;
    elsif tg_op = 'DELETE' then
        insert into derived.person_line_stale (person_id)
        select distinct person_id from old_rows where person_id is not null
        on conflict do nothing;
    else
        insert into derived.person_line_stale (person_id)
        select person_id from old_rows where person_id is not null
        union
        select person_id from new_rows where person_id is not null
        on conflict do nothing;
    end if;
    return null;
end
$$;
