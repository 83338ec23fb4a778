-- staging.checkin had an index on file_id alone. The errors.csv query of a check-in file joins its row
-- problems to its staged rows by (file_id, row_number); with the row problems freshly written (no
-- statistics yet) the planner probed that index once per problem, reading the whole file each time:
-- 33 s of a 50k-row file's 37 s, growing with rows × problems. One index on (file_id, row_number) serves
-- both lookups; row numbers arrive in order, so it grows at its end as the old one did.
drop index staging.staging_checkin_file;
create index staging_checkin_file_row on staging.checkin (file_id, row_number);
