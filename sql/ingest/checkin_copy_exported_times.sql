-- The scanned_at values of a check-ins file read by COPY that are exactly in the form PC-Covid exports
-- (YYYY-MM-DDTHH:MM:SS then +HH:MM, -HH:MM or Z, years 1900-2099, no hour 24, no second 60), read by
-- PostgreSQL once per distinct value into the lookup table; the Python reader's fast path reads exactly
-- these and gives the same instant. A value of this shape that is no date (2021-02-30, minute 61) makes
-- the cast fail: the caller rolls this statement back and Python reads every value. LIKE, not a regular
-- expression: it costs a tenth. The other values are left to Python. No parameters.
insert into checkin_lookup_time (raw, cell, scanned_at)
select
    v.scanned_at as raw,
    v.scanned_at as cell,
    v.scanned_at::timestamptz as scanned_at
from checkin_time_value as v
where
    (v.scanned_at like '19%' or v.scanned_at like '20%')
    and (
        v.scanned_at like '____-__-__T__:__:__+__:__'
        or v.scanned_at like '____-__-__T__:__:__-__:__'
        or v.scanned_at like '____-__-__T__:__:__Z'
    )
    and v.scanned_at not like '% %'
    and v.scanned_at not like '___________24%'
    and v.scanned_at not like '_________________60%'
