-- Row rules of the hardening (issue 17, items 4 to 6): the two row codes the contract added (section 6).
--   time_out_of_window: a check-in or declaration time before PC-Covid's launch (2021-09-01, configurable)
--                       or later than the allowed clock skew after the file was received;
--   invalid_text:       a name, address or free-text value that starts like a spreadsheet formula
--                       (=, +, -, @, tab, carriage return) or holds mis-decoded text (mojibake).
-- The rules are the SQL files sql/ingest/*_text.sql and *_time_window.sql named in each dataset's spec.
insert into ops.row_code (code, severity)
values
('invalid_text', 'error'),
('time_out_of_window', 'error')
on conflict (code) do nothing;
