-- The third consumer, Sổ Sức khỏe điện tử (contract docs/contract/health-status.md §7): its view on the same
-- stored release rows as the other two (no third copy), its reader role, its per-release view hash, and its
-- acknowledgements. The rows gain what only this view shows: the certificate with each dose's lot number
-- (beside the VNeID certificate, which stays as it is; built by the same aggregation, so that no read has
-- to rebuild it), the test history of
-- the 90 days before as_of, the recovery date, and the arrival measure (null until the arrivals contract is
-- served; the columns exist from the start so the app builds to them once).

alter table publish.release_row
add column sskdt_certificate jsonb not null default '[]',
add column test_history jsonb not null default '[]',
add column recovered_on date,
add column arrival_measure text,
add column arrival_measure_ends_on date;
comment on column publish.release_row.sskdt_certificate is 'vaccination_certificate with each dose''s lot_number (contract §7); shown by the Sổ SKĐT view only.';
comment on column publish.release_row.test_history is 'The tests sampled in the 90 days before as_of, newest first, at most 20 (contract §7); Sổ SKĐT only.';

alter table publish.release_meta add column sskdt_sha256 text;

alter table publish.app_ack drop constraint app_ack_app_check;
alter table publish.app_ack add constraint app_ack_app_check check (app in ('pccovid', 'vneid', 'sskdt'));

-- The view: the current release only, exactly the contract's columns (§7). security_barrier: a function in
-- a reader's where clause is never evaluated before the view's own join on the current release.
create view publish.sskdt_health_status with (security_barrier) as
select
    r.release_id,
    r.citizen_id,
    r.doses,
    r.last_dose_on,
    r.last_dose_product,
    r.fully_vaccinated,
    r.card_colour,
    r.latest_test_type,
    r.latest_test_result,
    r.latest_test_sampled_at,
    r.f0,
    c.as_of,
    r.full_name,
    r.date_of_birth,
    r.sskdt_certificate as vaccination_certificate,
    r.test_history,
    r.recovered_on,
    r.arrival_measure,
    r.arrival_measure_ends_on
from publish.release_row as r
inner join publish.release as c on r.release_id = c.release_id and c.is_current;
comment on view publish.sskdt_health_status is 'Sổ Sức khỏe điện tử: one row per person with a CCCD in the current release (contract §7).';

do $$
begin
    if not exists (select from pg_catalog.pg_roles where rolname = 'sskdt_reader') then
        create role sskdt_reader nologin;
    end if;
exception when duplicate_object or unique_violation then
    null;  -- another database's migration created it at the same moment
end
$$;

grant usage on schema publish to sskdt_reader;
grant select on publish.sskdt_health_status to sskdt_reader;
