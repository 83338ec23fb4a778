-- staging.checkin_identity from a check-ins file read by COPY: one row per distinct (person key, what the
-- QR payload said), for the rows whose payload could be read and that have a person key, as the Python
-- reader writes them (covidsync.ingest.checkins.checkin_rows). Parameters: file_id.
insert into staging.checkin_identity (
    file_id, person_kind, identifier, source, citizen_id, cmnd, qid, phone, full_name, date_of_birth,
    birth_year, gender
)
with facts as (
    select distinct
        l.payload,
        l.source,
        l.citizen_id,
        l.cmnd,
        l.qid,
        l.phone,
        l.full_name,
        l.date_of_birth,
        l.birth_year,
        l.gender
    from checkin_lookup_payload as l
    where l.source is not null
)

select distinct
    s.file_id,
    s.person_kind,
    s.identifier,
    p.source,
    p.citizen_id,
    p.cmnd,
    p.qid,
    p.phone,
    p.full_name,
    p.date_of_birth,
    p.birth_year,
    p.gender
from staging.checkin as s
inner join facts as p on s.qr_payload = p.payload
where s.file_id = %(file_id)s and s.person_kind is not null
