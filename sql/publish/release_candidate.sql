-- The published rows of the persons in scope (those of the temporary table publish_scope with a CCCD and a status
-- under the rule set; every person on a first release), as of the release's as_of: the values, the SHA-256 of the
-- row's canonical line (every published field but release_id and as_of; docs/sync-api.md, "hashes"), the canonical
-- texts of the list fields (for the view hashes), and the earliest as_of at which time alone may change the row.
-- The certificates (the VNeID one from the deduplicated doses given on or before the as_of day; the Sổ SKĐT one
-- with each dose's lot number), the test history (contract §7) and their texts are the person's card: the one the
-- status build stored (derived.person_card; no row: empty lists) unless it does not hold at this as_of, then the
-- one computed for this release (the temporary tables publish_card_scope and publish_card, filled by
-- covidsync.status.cards.release_cards with sql/status/person_card.sql). Computed here: the end of the latest F0
-- episode when it ended within 180 days before as_of, and the arrival measure in force with its last day
-- (derived.person_arrival_measure's rule, at this as_of). Each view's line hash (line_sha256, migration 0035): the
-- status build's (derived.person_line) for a row it computed them for, else computed here.
-- Parameters: rule_set, as_of, with_sskdt (false: leave the Sổ SKĐT columns empty; the benchmark measures
-- the view's cost that way), with_base (true: also the row hash without the Sổ SKĐT columns, for the status
-- build's derived.person_line; false in a release).
with param as (
    select
        %(as_of)s::timestamptz as as_of,
        (%(as_of)s::timestamptz at time zone 'Asia/Ho_Chi_Minh')::date as as_of_day,
        %(with_sskdt)s::boolean as with_sskdt
),

status as (
    select
        p.person_id,
        p.citizen_id,
        p.phone,
        p.full_name,
        p.date_of_birth,
        hs.doses,
        hs.last_dose_on,
        hs.last_dose_product,
        hs.fully_vaccinated,
        hs.card_colour,
        hs.latest_test_type,
        hs.latest_test_result,
        hs.latest_test_sampled_at,
        hs.f0,
        hs.contact_candidate,
        case when hs.recovered_on >= pa.as_of_day - 180 then hs.recovered_on end as recovered_on
    from derived.health_status as hs
    inner join derived.person as p on hs.person_id = p.person_id
    cross join param as pa
    where
        hs.rule_set = %(rule_set)s
        and p.citizen_id is not null
        and hs.person_id in (select sc.person_id from publish_scope as sc)
),

card as (
    select
        c.person_id,
        c.vaccination_certificate,
        c.certificate_text,
        c.sskdt_certificate,
        c.sskdt_certificate_text,
        c.lot_line,
        c.doses_shown,
        c.test_history,
        c.test_history_text,
        c.dose_expires_at,
        c.test_expires_at
    from derived.person_card as c
    where
        c.person_id in (select sc.person_id from publish_scope as sc)
        and not exists (
            select from publish_card_scope as cs
            where cs.person_id = c.person_id
        )
    union all
    select
        r.person_id,
        r.vaccination_certificate,
        r.certificate_text,
        r.sskdt_certificate,
        r.sskdt_certificate_text,
        r.lot_line,
        r.doses_shown,
        r.test_history,
        r.test_history_text,
        r.dose_expires_at,
        r.test_expires_at
    from publish_card as r
),

-- the arrival measure in force (contract §7, arrivals.md §2): the person's latest arrival whose measure has not
-- ended by the local as_of day, the rule of the view derived.person_arrival_measure but at the release's as_of
-- (not the last arrivals build's), so that the row's expiry below holds whatever built the arrivals last
measure as (
    select distinct on (a.person_id)
        a.person_id,
        a.measure,
        a.ends_on
    from derived.arrival as a
    inner join status as s on a.person_id = s.person_id
    cross join param as pa
    where
        pa.with_sskdt
        and a.rule_set = %(rule_set)s
        and a.ends_on >= pa.as_of_day
    order by a.person_id asc, a.arrived_at desc
),

-- the rows; their lines' hashes below
candidate_row as (
    select
        s.person_id,
        s.citizen_id,
        s.phone,
        s.doses,
        s.last_dose_on,
        s.last_dose_product,
        s.fully_vaccinated,
        s.card_colour,
        s.latest_test_type,
        s.latest_test_result,
        s.latest_test_sampled_at,
        s.f0,
        s.contact_candidate,
        s.full_name,
        s.date_of_birth,
        coalesce(c.vaccination_certificate, '[]'::jsonb) as vaccination_certificate,
        case when pa.with_sskdt then coalesce(c.sskdt_certificate, '[]'::jsonb) else '[]'::jsonb end
            as sskdt_certificate,
        case when pa.with_sskdt then coalesce(c.test_history, '[]'::jsonb) else '[]'::jsonb end as test_history,
        s.recovered_on,
        m.measure as arrival_measure,
        m.ends_on as arrival_measure_ends_on,
        coalesce(c.certificate_text, '') as certificate_text,
        case when pa.with_sskdt then coalesce(c.sskdt_certificate_text, '') else '' end as sskdt_certificate_text,
        case when pa.with_sskdt then coalesce(c.test_history_text, '') else '' end as test_history_text,
        encode(
            sha256(
                convert_to(
                    concat_ws(
                        E'\t',
                        s.citizen_id,
                        coalesce(s.phone, '\N'),
                        s.doses::text,
                        coalesce(to_char(s.last_dose_on, 'YYYY-MM-DD'), '\N'),
                        coalesce(s.last_dose_product, '\N'),
                        s.fully_vaccinated::text,
                        s.card_colour,
                        coalesce(s.latest_test_type, '\N'),
                        coalesce(s.latest_test_result, '\N'),
                        coalesce(
                            to_char(s.latest_test_sampled_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), '\N'
                        ),
                        s.f0::text,
                        s.contact_candidate::text,
                        coalesce(s.full_name, '\N'),
                        coalesce(to_char(s.date_of_birth, 'YYYY-MM-DD'), '\N'),
                        coalesce(c.certificate_text, ''),
                        -- the lot numbers; without the Sổ SKĐT view one \N per dose, as when the lots were not read
                        case
                            when pa.with_sskdt then coalesce(c.lot_line, '')
                            else array_to_string(array_fill('\N'::text, array[coalesce(c.doses_shown, 0)]), ';')
                        end,
                        case when pa.with_sskdt then coalesce(c.test_history_text, '') else '' end,
                        coalesce(to_char(s.recovered_on, 'YYYY-MM-DD'), '\N'),
                        -- only with a measure in force (concat_ws skips a null): a row without one hashes as before
                        m.measure || E'\t' || to_char(m.ends_on, 'YYYY-MM-DD')
                    ),
                    'UTF8'
                )
            ),
            'hex'
        ) as row_sha256,
        -- the row hash a release without the Sổ SKĐT view computes (no lot numbers, test history nor measure): for
        -- the status build's stored lines only (derived.person_line.base_sha256, with_base), null in a release
        case when %(with_base)s::boolean then encode(sha256(convert_to(concat_ws(
            E'\t',
            s.citizen_id,
            coalesce(s.phone, '\N'),
            s.doses::text,
            coalesce(to_char(s.last_dose_on, 'YYYY-MM-DD'), '\N'),
            coalesce(s.last_dose_product, '\N'),
            s.fully_vaccinated::text,
            s.card_colour,
            coalesce(s.latest_test_type, '\N'),
            coalesce(s.latest_test_result, '\N'),
            coalesce(to_char(s.latest_test_sampled_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), '\N'),
            s.f0::text,
            s.contact_candidate::text,
            coalesce(s.full_name, '\N'),
            coalesce(to_char(s.date_of_birth, 'YYYY-MM-DD'), '\N'),
            coalesce(c.certificate_text, ''),
            array_to_string(array_fill('\N'::text, array[coalesce(c.doses_shown, 0)]), ';'),
            '',
            coalesce(to_char(s.recovered_on, 'YYYY-MM-DD'), '\N')
        ), 'UTF8')), 'hex') end as base_sha256,
        least(
            case when pa.with_sskdt then c.test_expires_at end,
            c.dose_expires_at,
            (s.recovered_on + 181)::timestamp at time zone 'Asia/Ho_Chi_Minh',
            -- the measure ends: from the day after its last day the row shows the next one in force, or none
            (m.ends_on + 1)::timestamp at time zone 'Asia/Ho_Chi_Minh'
        ) as expires_at
    from status as s
    cross join param as pa
    left join card as c on s.person_id = c.person_id
    left join measure as m on s.person_id = m.person_id
)

-- each view's line hash (recipe 2): the status build's (derived.person_line) where the row is the one it
-- computed them for (the same row hash: every published field of the three views; without the Sổ SKĐT view the
-- row hash without its columns), else computed now (migration 0035)
select
    r.*,
    coalesce(
        case when pa.with_sskdt then l.line_sha256 else substring(l.line_sha256 from 1 for 64) end,
        publish.view_line_sha256(
            pa.with_sskdt,
            r.citizen_id,
            r.phone,
            r.doses,
            r.last_dose_on,
            r.last_dose_product,
            r.fully_vaccinated,
            r.card_colour,
            r.latest_test_type,
            r.latest_test_result,
            r.latest_test_sampled_at,
            r.f0,
            r.contact_candidate,
            r.full_name,
            r.date_of_birth,
            r.certificate_text,
            r.sskdt_certificate_text,
            r.test_history_text,
            r.recovered_on,
            r.arrival_measure,
            r.arrival_measure_ends_on
        )
    ) as line_sha256
-- (offset 0: the rows as computed, so that each row hash is computed once, not again in the join's condition)
from (select * from candidate_row offset 0) as r  -- noqa: AM09
cross join param as pa
-- (a release by change reads its persons' lines from publish_line here, release_lines.sql: release.py)
left join derived.person_line as l
    on
        r.person_id = l.person_id
        and r.row_sha256 = case when pa.with_sskdt then l.row_sha256 else l.base_sha256 end;
