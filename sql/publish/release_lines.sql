-- A release by change: the status build's stored lines (derived.person_line) of the persons in scope
-- (publish_scope), for the candidate (release_candidate.sql reads this table in their place: see
-- covidsync.publish.release, _day_candidate). One statement planned on its own, the lines probed by their key
-- (an array: one descent of the primary key per person, in person_id order, whatever the planner guesses of a
-- table with no statistics): in the candidate the lines were joined under a row estimate 200 times a day's (a
-- join of the statuses' and the cards' rows estimated from no statistics), so that it read and hashed every
-- stored line, 900,000 at 1M persons, in batches past work_mem, for a day's 50,000 (docs/performance.md,
-- branch p5-dayview).
create temporary table publish_line on commit drop as
select
    l.person_id,
    l.row_sha256,
    l.base_sha256,
    l.line_sha256
from derived.person_line as l
where l.person_id = any(array(select sc.person_id from publish_scope as sc));
