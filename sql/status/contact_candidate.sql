-- derived.contact_candidate for the F0s in retrace: one row per F0, candidate scan key, venue and pair of
-- scans (contract §5). The F0's scans (through the pseudonyms of its identifiers) inside its transmission
-- window [f0_since - window_before_days, resulted_at of the test that made it F0], then every other scan
-- at the same venue inside the window whose scanned_at is at most dwell_minutes away: two range joins on
-- the indexes (person_key, scanned_at) and (venue_code, scanned_at), never a cross join. Only scans before
-- as_of count. f0_scan is materialized with each scan's contact bounds as its own columns: the venue index is
-- then searched on (venue, from, to); with the bounds computed from two relations in the join clause the
-- planner searched on (venue, < as_of) and filtered the rest (measured: 35 of every 36 rows read thrown away).
-- Both range joins are lateral subqueries (offset 0: never flattened), so each F0 key and each F0 scan is looked up
-- in the day partitions its bounds reach (pruned as the join runs): joined as sets, the planner read and hashed every
-- check-in of every day, twice, for the F0s of a day (200,000 rows each time for 1,193 retraced F0s at 100k
-- persons, a pass that grows with the history kept; issue 19, branch s8-status). A scan whose key resolves to no person (a phone a family shares) is still a candidate.
-- A pair of scans inside the windows of two episodes of the same F0 (re-infected within days) is one row,
-- of the earlier episode: a test supported by either is supported by it (f0_since < t, contract §3).
delete from derived.contact_candidate
where rule_set = %(rule_set)s and f0_person_id in (select r.person_id from retrace as r);

insert into derived.contact_candidate (
    rule_set, f0_person_id, candidate_person_key, candidate_person_id, venue_code, f0_scanned_at,
    candidate_scanned_at, f0_since, window_end
)
with episode as (
    select
        e.person_id,
        e.f0_since,
        e.f0_since - make_interval(days => %(window_before_days)s) as window_start,
        e.window_end,
        least(e.window_end, %(as_of)s::timestamptz) as scan_end
    from derived.f0_episode as e
    inner join retrace as r on e.person_id = r.person_id
    where e.rule_set = %(rule_set)s
),

f0_key as (
    select
        i.person_id,
        i.identity_key
    from derived.person_identifier as i
    where i.person_id in (select e.person_id from episode as e)
),

f0_scan as materialized (
    select
        e.person_id,
        e.f0_since,
        e.window_start,
        e.window_end,
        e.scan_end,
        c.venue_code,
        c.scanned_at,
        c.local_day,
        greatest(c.scanned_at - make_interval(mins => %(dwell_minutes)s), e.window_start) as contact_from,
        least(c.scanned_at + make_interval(mins => %(dwell_minutes)s), e.scan_end) as contact_to
    from episode as e
    inner join f0_key as k on e.person_id = k.person_id
    cross join lateral (
        select
            x.venue_code,
            x.scanned_at,
            x.local_day
        from core.checkin as x
        where
            x.person_key = k.identity_key
            and x.scanned_at >= e.window_start
            and x.scanned_at <= e.scan_end
            and x.scanned_at < %(as_of)s::timestamptz
            -- the same bounds on the partition key (local_day is scanned_at's local date: a check of the table)
            and x.local_day >= (e.window_start at time zone 'Asia/Ho_Chi_Minh')::date
            and x.local_day <= (e.scan_end at time zone 'Asia/Ho_Chi_Minh')::date
        offset 0  -- noqa: AM09
    ) as c
),

pair as (
    select
        s.person_id,
        c.person_key,
        s.venue_code,
        s.scanned_at as f0_scanned_at,
        c.scanned_at as candidate_scanned_at,
        s.f0_since,
        s.window_end
    from f0_scan as s
    cross join
        lateral (
            select
                x.person_key,
                x.scanned_at
            from core.checkin as x
            where
                x.venue_code = s.venue_code
                and x.scanned_at >= s.contact_from
                and x.scanned_at <= s.contact_to
                and x.scanned_at < %(as_of)s::timestamptz
                and x.local_day between s.local_day - 1 and s.local_day + 1
            offset 0  -- noqa: AM09
        ) as c
    where not exists (
        select 1 from f0_key as k
        where k.person_id = s.person_id and k.identity_key = c.person_key
    )
)

select distinct on (p.person_id, p.person_key, p.venue_code, p.f0_scanned_at, p.candidate_scanned_at)
    %(rule_set)s,
    p.person_id,
    p.person_key,
    i.person_id as candidate_person_id,
    p.venue_code,
    p.f0_scanned_at,
    p.candidate_scanned_at,
    p.f0_since,
    p.window_end
from pair as p
left join derived.person_identifier as i on p.person_key = i.identity_key
where i.person_id is distinct from p.person_id
order by p.person_id asc, p.person_key asc, p.venue_code asc, p.f0_scanned_at asc, p.candidate_scanned_at asc, p.f0_since asc;
