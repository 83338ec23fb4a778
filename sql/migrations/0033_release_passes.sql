-- The per-release passes cost what changed (issue 19): a release no longer reads every published row to hash the
-- apps' views or to check that the views agree.
--
-- View hashes, recipe 2 (docs/sync-api.md, "Hashes"): an app's view hash is the sum, modulo 2^256, of the SHA-256
-- of each row's canonical line (the lines of recipe 1), so that a release's hash is the previous release's plus
-- the lines its versions open minus the lines they close. release_meta.hash_recipe says which recipe a release's
-- pccovid_sha256 / vneid_sha256 / sskdt_sha256 follow: the releases made before this migration keep recipe 1
-- (an app syncing to one of them hashes its copy that way), every later one is made with recipe 2.
alter table publish.release_meta add column hash_recipe smallint not null default 1 check (hash_recipe in (1, 2));
alter table publish.release_meta alter column hash_recipe set default 2;
comment on column publish.release_meta.hash_recipe is 'The recipe of the release''s view hashes (docs/sync-api.md, "Hashes"): 1, SHA-256 of the copy''s lines in citizen_id order (releases before migration 0033); 2, the sum modulo 2^256 of the SHA-256 of each line.';

-- The agreement check of the views reads only the persons a release changed while the views are defined as they
-- were when all of them were last checked in full: views_sha256 is the SHA-256 of those definitions
-- (pg_get_viewdef of each consumer's view), null until a full check passes; a changed definition checks in full.
alter table publish.build_state add column views_sha256 text;
comment on column publish.build_state.views_sha256 is 'SHA-256 of the consumer views'' definitions (and the apps checked) when the agreement check last passed over every person; null: the next release checks every person.';
