-- Closing a version as a HOT update (issue 19, branch p17-day). A day's release closes the versions it replaces
-- (release_store_versions.sql: valid_to set). That update was never HOT: the expiry index's predicate named
-- valid_to, and the first release filled every page. So each close wrote a new copy of a ~550-byte row at the
-- table's end and an entry in each of the three indexes. Now:
-- - the table keeps 10 % of each page free, room for one closed copy of a version on its own page;
-- - the expiry index no longer names valid_to. Its one reader (release_scope.sql) keeps `valid_to is null` and
--   checks it in the heap; closed versions stay in the index until retention prunes them.
-- The fill factor applies to pages written from now on (a first release writes all of them).
alter table publish.release_version set (fillfactor = 90);

drop index publish.release_version_expiry;
-- the versions time alone may change at the next release (the scope keeps the open ones: valid_to is null)
create index release_version_expiry on publish.release_version (expires_at) where expires_at is not null;
