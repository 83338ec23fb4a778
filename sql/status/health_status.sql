-- derived.health_status for the persons in touched: one row per person under the rule set, as of as_of
-- (the end of a local day; contract §1-§4, §6), with the ids of the records behind the fields (explain).
-- Dates compare with the as_of date: a dose on day D counts for "14 days before as_of" from as_of = D + 14.
-- due_at: the earliest of the person's clocks still ahead of as_of, where a time rule can change the row (as_of
-- at or past it: the row is recomputed; before it the row holds, whatever the as_of). The clocks, each the
-- instant c the rule's comparison with as_of turns, at c (as_of >= c: doses, recovered_at, the green window's
-- end) or just after it (as_of > c: tests, 72 hours, f0_since, candidate scans). A clock of the first kind
-- equal to as_of has already turned and is not ahead (c > as_of); one of the second kind is (c >= as_of).
-- Before, every clock at as_of counted: every dose given the day before as_of (its visibility) or 14 days
-- before it fell due at once, and the next build rewrote the row for nothing (issue 19, branch s5-status:
-- 3,636 of the generated day's 7,877 due persons at 100k):
-- - each vaccination record on day D: visible from the local midnight starting D + 1, and D + yellow_dose_days,
--   D + fully_vaccinated_days (a superset of the first dose's and the last primary dose's clocks);
-- - each test: visible after sampled_at; a negative RT-PCR's 72 hours end after sampled_at + 72 hours;
-- - each F0 episode: f0_since, recovered_at (no longer active), and the local midnight ending the green
--   recovery window (recovered_on + green_recovery_days + 1);
-- - each candidate scan: visible after candidate_scanned_at, expired after it + candidate_flag_days.
-- They depend on the person's records and the rows of f0_episode and contact_candidate alone (any change to
-- those touches the person), so a row untouched since an earlier as_of A, with no clock in [A, as_of], has
-- the due_at a full rebuild gives.
-- Only the rows that differ are written (status_new, then the differences): a row whose values and due_at
-- are those it had keeps its as_of and computed_at, so a reader of computed_at sees the statuses that changed.
-- (created once per transaction and emptied: a build in a long transaction takes no new locks per call)
create temp table if not exists status_new (
    like derived.health_status including defaults
) on commit drop;

truncate status_new;

create temp table if not exists status_same (person_id bigint primary key) on commit drop;

truncate status_same;

insert into status_new (
    rule_set, person_id, as_of, doses, last_dose_on, last_dose_product, primary_doses, primary_complete,
    last_primary_dose_on, booster_doses, fully_vaccinated, latest_test_type, latest_test_result,
    latest_test_sampled_at, f0, f0_since, recovered_on, contact_candidate, card_colour,
    last_dose_vaccination_id, latest_test_id, f0_test_id, recovery_test_id, due_at
)
with param as (
    select
        %(as_of)s::timestamptz as as_of,
        (%(as_of)s::timestamptz at time zone 'Asia/Ho_Chi_Minh')::date as as_of_date,
        %(primary_doses_override)s::jsonb as override
),

-- The touched persons' doses and records, each read once (materialized) for every use below: the series, the
-- dose counts, the latest test, the recent negative RT-PCR and the clocks each joined the touched persons to
-- the whole of derived.vaccination_dose (twice), derived.person_record (three times), core.test_result (twice)
-- and core.vaccination (issue 19, branch s7-status).
touched_dose as materialized (
    select
        d.person_id,
        d.dose_number,
        d.vaccinated_on,
        d.product_code,
        d.vaccination_id
    from touched as t
    inner join derived.vaccination_dose as d on t.person_id = d.person_id
),

touched_record as materialized (
    select
        r.person_id,
        r.source,
        r.record_id
    from touched as t
    inner join derived.person_record as r on t.person_id = r.person_id
),

-- every test of a touched person, also those sampled at or after as_of (their clocks)
test_any as materialized (
    select
        r.person_id,
        tr.test_result_id,
        tr.test_type,
        tr.pooled,
        tr.result,
        tr.sampled_at,
        tr.resulted_at
    from touched_record as r
    inner join core.test_result as tr on r.record_id = tr.test_result_id
    where r.source = 'test_result'
),

series as (
    select
        d.person_id,
        coalesce((pa.override ->> d.product_code)::integer, vp.primary_doses) as primary_doses
    from touched_dose as d
    inner join core.vaccine_product as vp on d.product_code = vp.product_code
    cross join param as pa
    where d.dose_number = 1
),

dose as (
    select
        d.person_id,
        s.primary_doses,
        count(d.dose_number) as doses,
        count(d.dose_number) filter (where d.dose_number <= s.primary_doses) as primary_given,
        max(d.vaccinated_on) filter (where d.dose_number = s.primary_doses) as last_primary_dose_on,
        count(d.dose_number) filter (where d.dose_number > s.primary_doses) as booster_doses,
        min(d.vaccinated_on) as first_dose_on,
        (array_agg(d.vaccinated_on order by d.vaccinated_on desc, d.dose_number desc))[1] as last_dose_on,
        (array_agg(vp.name order by d.vaccinated_on desc, d.dose_number desc))[1] as last_dose_product,
        (array_agg(d.vaccination_id order by d.vaccinated_on desc, d.dose_number desc))[1] as last_dose_vaccination_id
    from touched_dose as d
    inner join core.vaccine_product as vp on d.product_code = vp.product_code
    left join series as s on d.person_id = s.person_id
    group by d.person_id, s.primary_doses
),

test as (
    select t.*
    from test_any as t
    cross join param as pa
    where t.sampled_at < pa.as_of
),

latest_test as (
    select distinct on (t.person_id)
        t.person_id,
        t.test_result_id,
        t.test_type,
        case when t.pooled and t.result = 'positive' then 'pooled_positive' else t.result end as result,
        t.sampled_at
    from test as t
    order by t.person_id asc, t.sampled_at desc, (t.test_type = 'RT-PCR') desc, t.resulted_at desc, t.test_result_id desc
),

recent_negative_pcr as (
    select distinct t.person_id
    from test as t
    cross join param as pa
    where
        t.test_type = 'RT-PCR' and t.result = 'negative'
        and t.sampled_at >= pa.as_of - make_interval(hours => %(yellow_rt_pcr_hours)s)
),

episode as (
    select distinct on (e.person_id)
        e.person_id,
        e.f0_since,
        e.f0_test_id,
        e.recovered_at,
        e.recovery_test_id,
        e.recovered_at > pa.as_of as active
    from derived.f0_episode as e
    inner join touched as t on e.person_id = t.person_id
    cross join param as pa
    where e.rule_set = %(rule_set)s and e.f0_since < pa.as_of
    order by e.person_id asc, e.f0_since desc
),

candidate as (
    select distinct c.candidate_person_id as person_id
    from derived.contact_candidate as c
    inner join touched as t on c.candidate_person_id = t.person_id
    cross join param as pa
    where
        c.rule_set = %(rule_set)s
        and c.candidate_scanned_at >= pa.as_of - make_interval(days => %(candidate_flag_days)s)
        and c.candidate_scanned_at < pa.as_of
),

clock as (
    select
        r.person_id,
        ((v.vaccinated_on + s.days)::timestamp at time zone 'Asia/Ho_Chi_Minh') as at,
        true as turns_at
    from touched_record as r
    inner join core.vaccination as v on r.record_id = v.vaccination_id
    cross join (values (1), (%(yellow_dose_days)s), (%(fully_vaccinated_days)s)) as s (days)
    where r.source = 'vaccination'
    union all
    select
        tr.person_id,
        tr.sampled_at + s.shift as at,
        false as turns_at
    from test_any as tr
    cross join (values (interval '0 hours', false), (make_interval(hours => %(yellow_rt_pcr_hours)s), true))
        as s (shift, negative_pcr)
    where not s.negative_pcr or (tr.test_type = 'RT-PCR' and tr.result = 'negative')
    union all
    select
        e.person_id,
        unnest(array[
            e.f0_since,
            e.recovered_at,
            (
                ((e.recovered_at at time zone 'Asia/Ho_Chi_Minh')::date + %(green_recovery_days)s + 1)::timestamp
                at time zone 'Asia/Ho_Chi_Minh'
            )
        ]) as at,
        unnest(array[false, true, true]) as turns_at
    from derived.f0_episode as e
    inner join touched as t on e.person_id = t.person_id
    where e.rule_set = %(rule_set)s
    union all
    select
        c.candidate_person_id,
        unnest(array[c.candidate_scanned_at, c.candidate_scanned_at + make_interval(days => %(candidate_flag_days)s)])
            as at,
        false as turns_at
    from derived.contact_candidate as c
    inner join touched as t on c.candidate_person_id = t.person_id
    where c.rule_set = %(rule_set)s
),

due as (
    select
        c.person_id,
        min(c.at) as due_at
    from clock as c
    cross join param as pa
    where c.at > pa.as_of or (c.at = pa.as_of and not c.turns_at)
    group by c.person_id
),

status as (
    select
        t.person_id,
        pa.as_of,
        pa.as_of_date,
        coalesce(d.doses, 0) as doses,
        d.last_dose_on,
        d.last_dose_product,
        d.last_dose_vaccination_id,
        d.primary_doses,
        coalesce(d.primary_given = d.primary_doses, false) as primary_complete,
        case when d.primary_given = d.primary_doses then d.last_primary_dose_on end as last_primary_dose_on,
        coalesce(d.booster_doses, 0) as booster_doses,
        d.first_dose_on,
        lt.test_type as latest_test_type,
        lt.result as latest_test_result,
        lt.sampled_at as latest_test_sampled_at,
        lt.test_result_id as latest_test_id,
        coalesce(e.active, false) as f0,
        e.f0_since,
        e.f0_test_id,
        case when not e.active then (e.recovered_at at time zone 'Asia/Ho_Chi_Minh')::date end as recovered_on,
        case when not e.active then e.recovery_test_id end as recovery_test_id,
        c.person_id is not null as contact_candidate,
        n.person_id is not null as recent_negative_pcr,
        du.due_at
    from touched as t
    inner join derived.person as p on t.person_id = p.person_id
    cross join param as pa
    left join dose as d on t.person_id = d.person_id
    left join latest_test as lt on t.person_id = lt.person_id
    left join episode as e on t.person_id = e.person_id
    left join candidate as c on t.person_id = c.person_id
    left join recent_negative_pcr as n on t.person_id = n.person_id
    left join due as du on t.person_id = du.person_id
),

judged as (
    select
        s.*,
        s.primary_complete
        and s.last_primary_dose_on <= s.as_of_date - %(fully_vaccinated_days)s as fully_vaccinated
    from status as s
)

select
    %(rule_set)s::text as rule_set,
    j.person_id,
    j.as_of,
    j.doses,
    j.last_dose_on,
    j.last_dose_product,
    j.primary_doses,
    j.primary_complete,
    j.last_primary_dose_on,
    j.booster_doses,
    coalesce(j.fully_vaccinated, false) as fully_vaccinated,
    j.latest_test_type,
    j.latest_test_result,
    j.latest_test_sampled_at,
    j.f0,
    j.f0_since,
    j.recovered_on,
    j.contact_candidate,
    case
        when j.f0 then 'red'
        when j.fully_vaccinated then 'green'
        when j.recovered_on >= j.as_of_date - %(green_recovery_days)s then 'green'
        when j.first_dose_on <= j.as_of_date - %(yellow_dose_days)s then 'yellow'
        when j.recent_negative_pcr then 'yellow'
        else 'red'
    end as card_colour,
    j.last_dose_vaccination_id,
    j.latest_test_id,
    j.f0_test_id,
    j.recovery_test_id,
    j.due_at
from judged as j;

analyze status_new;

insert into status_same (person_id)
select n.person_id
from status_new as n
inner join derived.health_status as h on n.rule_set = h.rule_set and n.person_id = h.person_id
where
    (
        n.doses, n.last_dose_on, n.last_dose_product, n.primary_doses, n.primary_complete,
        n.last_primary_dose_on, n.booster_doses, n.fully_vaccinated, n.latest_test_type,
        n.latest_test_result, n.latest_test_sampled_at, n.f0, n.f0_since, n.recovered_on,
        n.contact_candidate, n.card_colour, n.last_dose_vaccination_id, n.latest_test_id, n.f0_test_id,
        n.recovery_test_id, n.due_at
    )
    is not distinct from
    (
        h.doses, h.last_dose_on, h.last_dose_product, h.primary_doses, h.primary_complete,
        h.last_primary_dose_on, h.booster_doses, h.fully_vaccinated, h.latest_test_type,
        h.latest_test_result, h.latest_test_sampled_at, h.f0, h.f0_since, h.recovered_on,
        h.contact_candidate, h.card_colour, h.last_dose_vaccination_id, h.latest_test_id, h.f0_test_id,
        h.recovery_test_id, h.due_at
    );

-- status_shown_same: the touched persons whose stored row has the new row's published values (those
-- sql/publish/release_candidate.sql reads), whatever its other columns (due_at, the dose series, the ids behind
-- the fields): their view lines hold (covidsync.status.cards.build_lines). A superset of status_same: a clock
-- falling due moves due_at, and most often changes nothing shown (issue 19, branch s5-status).
create temp table if not exists status_shown_same (person_id bigint primary key) on commit drop;

truncate status_shown_same;

insert into status_shown_same (person_id)
select n.person_id
from status_new as n
inner join derived.health_status as h on n.rule_set = h.rule_set and n.person_id = h.person_id
where
    (
        n.doses, n.last_dose_on, n.last_dose_product, n.fully_vaccinated, n.card_colour, n.latest_test_type,
        n.latest_test_result, n.latest_test_sampled_at, n.f0, n.contact_candidate, n.recovered_on
    )
    is not distinct from
    (
        h.doses, h.last_dose_on, h.last_dose_product, h.fully_vaccinated, h.card_colour, h.latest_test_type,
        h.latest_test_result, h.latest_test_sampled_at, h.f0, h.contact_candidate, h.recovered_on
    );

-- The rows that change are written in place: a touched person's row is updated, a new person's inserted, and a
-- row left without a new one (none: a person who goes has its row deleted by identity's stale step) deleted.
-- Before, each changed row was deleted and inserted again: the deletion read the whole table, and the line
-- triggers noted every such person and took the note out again for those whose shown values came back (issue 19,
-- branch s8-status; the triggers' update branch compares shown values, migration 0097).
delete from derived.health_status as h
where
    h.rule_set = %(rule_set)s
    and h.person_id in (
        select t.person_id from touched as t
        where not exists (
            select 1 from status_new as n
            where n.person_id = t.person_id
        )
    );

create temp table if not exists status_updated (person_id bigint primary key) on commit drop;

truncate status_updated;

-- the persons whose row was updated: the insertion below leaves them out by this table, not by an anti-join
-- against derived.health_status itself (a statement reading the table it inserts into: planned from a table
-- estimated empty, as on a first build, it read its own new rows again for every row)
with updated as (
    update derived.health_status as h
    set
        as_of = n.as_of,
        doses = n.doses,
        last_dose_on = n.last_dose_on,
        last_dose_product = n.last_dose_product,
        primary_doses = n.primary_doses,
        primary_complete = n.primary_complete,
        last_primary_dose_on = n.last_primary_dose_on,
        booster_doses = n.booster_doses,
        fully_vaccinated = n.fully_vaccinated,
        latest_test_type = n.latest_test_type,
        latest_test_result = n.latest_test_result,
        latest_test_sampled_at = n.latest_test_sampled_at,
        f0 = n.f0,
        f0_since = n.f0_since,
        recovered_on = n.recovered_on,
        contact_candidate = n.contact_candidate,
        card_colour = n.card_colour,
        computed_at = n.computed_at,
        last_dose_vaccination_id = n.last_dose_vaccination_id,
        latest_test_id = n.latest_test_id,
        f0_test_id = n.f0_test_id,
        recovery_test_id = n.recovery_test_id,
        due_at = n.due_at
    from status_new as n
    where
        h.rule_set = n.rule_set
        and h.person_id = n.person_id
        and not exists (
            select 1 from status_same as s
            where s.person_id = n.person_id  -- noqa: RF01
        )
    returning h.person_id
)

insert into status_updated (person_id)
select u.person_id from updated as u;

insert into derived.health_status (
    rule_set, person_id, as_of, doses, last_dose_on, last_dose_product, primary_doses, primary_complete,
    last_primary_dose_on, booster_doses, fully_vaccinated, latest_test_type, latest_test_result,
    latest_test_sampled_at, f0, f0_since, recovered_on, contact_candidate, card_colour,
    last_dose_vaccination_id, latest_test_id, f0_test_id, recovery_test_id, due_at
)
select
    n.rule_set,
    n.person_id,
    n.as_of,
    n.doses,
    n.last_dose_on,
    n.last_dose_product,
    n.primary_doses,
    n.primary_complete,
    n.last_primary_dose_on,
    n.booster_doses,
    n.fully_vaccinated,
    n.latest_test_type,
    n.latest_test_result,
    n.latest_test_sampled_at,
    n.f0,
    n.f0_since,
    n.recovered_on,
    n.contact_candidate,
    n.card_colour,
    n.last_dose_vaccination_id,
    n.latest_test_id,
    n.f0_test_id,
    n.recovery_test_id,
    n.due_at
from status_new as n
where
    not exists (
        select 1 from status_same as s
        where s.person_id = n.person_id
    )
    and not exists (
        select 1 from status_updated as u
        where u.person_id = n.person_id
    );
