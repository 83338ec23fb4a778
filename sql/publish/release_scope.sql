-- What the next release recomputes when it is not a full rebuild, into the temporary tables publish_scope and
-- publish_citizen_scope: the persons whose inputs changed (publish.pending_person, noted by triggers), the persons
-- whose row time alone changes by as_of (expires_at), and those of an unpublished candidate held (rebuilt
-- against the current release); and the CCCDs those persons held or hold.
-- Both are written in key order: a release reads its persons' statuses, cards and versions by these keys, and
-- probes in key order walk each index and table forwards (in the hash order of a union they jumped all over).
-- Parameters: as_of, held (0 when no candidate is held).
insert into publish_scope (person_id)
select pp.person_id from publish.pending_person as pp
union
select rv.person_id from publish.release_version as rv
where rv.valid_to is null and rv.expires_at <= %(as_of)s and rv.person_id is not null
union
select rv.person_id from publish.release_version as rv
where rv.valid_from = %(held)s and rv.person_id is not null
order by 1;

insert into publish_citizen_scope (citizen_id)
select pc.citizen_id from publish.pending_citizen as pc
union
select rv.citizen_id from publish.release_version as rv
where rv.valid_to is null and rv.expires_at <= %(as_of)s
union
select rv.citizen_id from publish.release_version as rv
where rv.valid_from = %(held)s
union
-- an array: the persons' key probed for each person in scope, not every person read (a day's scope is small)
select p.citizen_id from derived.person as p
where p.person_id = any(array(select ps.person_id from publish_scope as ps)) and p.citizen_id is not null
order by 1;

analyze publish_scope;
analyze publish_citizen_scope;
