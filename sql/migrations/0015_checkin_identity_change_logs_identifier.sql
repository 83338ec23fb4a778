-- A check-in identity whose facts change (name, birth date, gender, phone) now logs its own identifier in
-- core.identity_change, not only the phone it stopped carrying. An incremental build can then leave out of
-- its seeds a check-in identity first seen since the last build that says nothing new about its person
-- (sql/status/checkin_known.sql): a changed one is still found, through this log, with the facts it lost.
create or replace function core.checkin_person_changed() returns trigger
language plpgsql as $$
begin
    new.changed_at := now();
    insert into core.identity_change (kind, value) values (old.person_kind, old.identifier);
    if old.phone is not null and old.phone is distinct from new.phone then
        insert into core.identity_change (kind, value) values ('phone', old.phone);
    end if;
    return new;
end;
$$;
comment on function core.checkin_person_changed() is 'Row trigger: stamps changed_at and logs the identifier, and a phone it stopped carrying, of a check-in identity whose facts changed.';
