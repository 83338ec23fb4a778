-- Each view's recipe-2 line hash computed once, where the row changes (issues 19 and 20): the status build stores
-- beside each person's card (derived.person_card, 0032) the SHA-256 of the person's line in each app's view
-- (docs/sync-api.md, "Hashes", recipe 2) in derived.person_line, and every version a release stores keeps its
-- lines' hashes (publish.release_version.line_sha256), so that a release's view hashes add stored numbers
-- instead of building and hashing three lines per row (3 x 900,000 SHA-256 on a first release at 1M persons).
--
-- A stored line is used only for the row it was computed for: a release takes derived.person_line's hashes for a
-- person only when the row hash it computes (row_sha256, which covers every published field of the three views)
-- is the one stored with them; any other row (a status, card, person or arrival changed with no status build
-- since, a card altered by hand, another as_of) gets its lines computed by the release with the same function.

-- The three lines of one row, each hashed (recipe 2: the view's columns but release_id and as_of, tab-separated,
-- null as \N, the lists as their canonical texts, ending in a newline): PC-Covid, VNeID, then Sổ SKĐT, 32 bytes
-- each; without the Sổ SKĐT view (with_sskdt false: the benchmark's releases of two views) the first 64 bytes.
-- A SQL function of one expression (no FROM: PostgreSQL inlines it into the statement that calls it, where a
-- function call per row would cost more than the hashing).
create function publish.view_line_sha256(
    with_sskdt boolean,
    citizen_id text,
    phone text,
    doses integer,
    last_dose_on date,
    last_dose_product text,
    fully_vaccinated boolean,
    card_colour text,
    latest_test_type text,
    latest_test_result text,
    latest_test_sampled_at timestamptz,
    f0 boolean,
    contact_candidate boolean,
    full_name text,
    date_of_birth date,
    certificate_text text,
    sskdt_certificate_text text,
    test_history_text text,
    recovered_on date,
    arrival_measure text,
    arrival_measure_ends_on date
) returns bytea
language sql stable parallel safe
as $$
select
    sha256(convert_to(concat_ws(
        E'\t',
        $2,
        coalesce($3, '\N'),
        $4::text,
        coalesce(to_char($5, 'YYYY-MM-DD'), '\N'),
        coalesce($6, '\N'),
        $7::text,
        $8,
        coalesce($9, '\N'),
        coalesce($10, '\N'),
        coalesce(to_char($11 at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), '\N'),
        $12::text,
        $13::text
    ) || E'\n', 'UTF8'))
    || sha256(convert_to(concat_ws(
        E'\t',
        $2,
        $4::text,
        coalesce(to_char($5, 'YYYY-MM-DD'), '\N'),
        coalesce($6, '\N'),
        $7::text,
        $8,
        coalesce($9, '\N'),
        coalesce($10, '\N'),
        coalesce(to_char($11 at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), '\N'),
        $12::text,
        coalesce($14, '\N'),
        coalesce(to_char($15, 'YYYY-MM-DD'), '\N'),
        coalesce($16, '')
    ) || E'\n', 'UTF8'))
    || case when $1 then sha256(convert_to(concat_ws(
        E'\t',
        $2,
        $4::text,
        coalesce(to_char($5, 'YYYY-MM-DD'), '\N'),
        coalesce($6, '\N'),
        $7::text,
        $8,
        coalesce($9, '\N'),
        coalesce($10, '\N'),
        coalesce(to_char($11 at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), '\N'),
        $12::text,
        coalesce($14, '\N'),
        coalesce(to_char($15, 'YYYY-MM-DD'), '\N'),
        coalesce($17, ''),
        coalesce($18, ''),
        coalesce(to_char($19, 'YYYY-MM-DD'), '\N'),
        coalesce($20, '\N'),
        coalesce(to_char($21, 'YYYY-MM-DD'), '\N')
    ) || E'\n', 'UTF8')) else ''::bytea end
$$;
comment on function publish.view_line_sha256 is 'The SHA-256 of a row''s line in the PC-Covid, VNeID and (with_sskdt) Sổ SKĐT views, concatenated (recipe 2 of the view hashes; docs/sync-api.md). 0035.';

-- Each version's line hashes, as publish.view_line_sha256 gives them for the version's own columns (64 bytes:
-- stored by a release without the Sổ SKĐT view; null: a version stored before 0035). The release's view hashes
-- read them (sql/publish/release_hashes.sql) and compute only the missing ones.
alter table publish.release_version add column line_sha256 bytea;
-- With the lines' hashes stored, the lists' canonical texts are read by nothing: versions stored from now on
-- leave them null (narrower versions), the versions before keep them for their lines' hashes.
comment on column publish.release_version.certificate_text is 'The canonical text of vaccination_certificate, for the VNeID view hash; null in versions stored since 0035 (line_sha256 holds the lines'' hashes).';
comment on column publish.release_version.sskdt_certificate_text is 'The canonical text of sskdt_certificate (with lot_number), for the Sổ SKĐT view hash; null in versions stored since 0035.';
comment on column publish.release_version.test_history_text is 'The canonical text of test_history, for the Sổ SKĐT view hash; null in versions stored since 0035.';
comment on column publish.release_version.line_sha256 is 'publish.view_line_sha256 of this version''s columns: the SHA-256 of its PC-Covid, VNeID and Sổ SKĐT lines (96 bytes; 64 without the Sổ SKĐT view; null before 0035), for the view hashes.';

-- The status build's lines (covidsync.status.cards.build_lines, after the cards): per person with a CCCD and a
-- status, as of the build's as_of, the row hash with the Sổ SKĐT columns (row_sha256) and without them
-- (base_sha256: what a release of PC-Covid and VNeID only computes), and the three lines' hashes. A release uses
-- them where its own row hash is the stored one.
create table derived.person_line (
    person_id bigint primary key,
    row_sha256 text not null,
    base_sha256 text not null,
    line_sha256 bytea not null check (length(line_sha256) = 96),
    expires_at timestamptz
);
comment on table derived.person_line is 'One row per published person as of the last status build: the published row''s hash and the SHA-256 of its line in each view (recipe 2), computed once where the row changes (0035).';
comment on column derived.person_line.row_sha256 is 'The published row''s row_sha256 (contract §6, with the Sổ SKĐT columns) the lines were computed for.';
comment on column derived.person_line.base_sha256 is 'The same row''s row_sha256 as a release without the Sổ SKĐT view computes it (lot numbers and test history left out).';
comment on column derived.person_line.line_sha256 is 'publish.view_line_sha256 of the row: its PC-Covid, VNeID and Sổ SKĐT lines'' SHA-256, 32 bytes each.';
comment on column derived.person_line.expires_at is 'The row''s expires_at: from then on time alone may change it (the next status build computes it again).';
create index person_line_expiry on derived.person_line (expires_at) where expires_at is not null;
