"""A small hand-made warehouse for the mart tests: 4 persons, their doses, tests, check-ins, status and
contact candidates, 3 facilities and their files (figures in the tests are computed by hand from these rows).

Times are written in local time (+07:00) so that each row's local day and hour can be read off here.
"""

from __future__ import annotations

import datetime as dt

from covidsync.privacy import pseudonym

AZ, PFIZER = "EU/1/21/1529", "EU/1/20/1528"
RULE_SET = "moh-2021"
LOCAL = dt.timezone(dt.timedelta(hours=7))

# person: (citizen_id, cmnd, full_name, phone, province, district, commune)
PERSONS = {
    "P1": ("017090000001", None, "Nguyễn Văn An", "0912345671", "17", "148", "04789"),
    "P2": ("017090000002", None, "Trần Thị Bình", "0912345672", "17", "148", "04789"),
    "P3": ("017090000003", None, "Lê Văn Cường", "0912345673", "17", "148", "04792"),
    "P4": ("017090000004", "113456789", "Phạm Thị Dung", "0912345674", "17", "150", "04831"),
}
# (person, dose, day, product)
DOSES = [
    ("P1", 1, "2021-11-01", AZ),
    ("P1", 2, "2021-11-10", AZ),
    ("P2", 1, "2021-11-01", PFIZER),
    ("P3", 1, "2021-11-02", AZ),
    ("P3", 2, "2021-11-10", PFIZER),
    ("P4", 1, "2021-11-02", PFIZER),
]
# (person, test type, sampled at (local), result)
TESTS = [
    ("P1", "RT-PCR", "2021-11-05 00:30", "positive"),
    ("P2", "RT-PCR", "2021-11-05 09:00", "negative"),
    ("P3", "RT-PCR", "2021-11-05 10:00", "invalid"),
    ("P1", "antigen", "2021-11-05 11:00", "negative"),
    ("P2", "antigen", "2021-11-05 12:00", "negative"),
    ("P4", "RT-PCR", "2021-11-06 08:00", "positive"),
]
# (checkin id, venue, scanned at (local), direction, person)
CHECKINS = [
    ("c1", "V1", "2021-11-05 08:10", "in", "P1"),
    ("c2", "V1", "2021-11-05 08:40", "in", "P1"),
    ("c3", "V1", "2021-11-05 08:50", "in", "P2"),
    ("c4", "V1", "2021-11-05 09:00", "out", "P1"),
    ("c5", "V2", "2021-11-05 23:30", "in", "P3"),
    ("c6", "V1", "2021-11-05 08:05", "in", "P4"),
]
FACILITIES = {"17001": ("148", "04789"), "17002": ("148", "04792"), "17003": ("150", "04831")}
# (facility, dataset, received at (local), status, rows_total, rows_loaded, rows_rejected)
FILES = [
    ("17001", "vaccinations", "2021-11-01 10:00", "merged", 100, 98, 2),
    ("17001", "vaccinations", "2021-11-02 19:59", "merged", 100, 100, 0),
    ("17001", "test_results", "2021-11-03 09:00", "merged", 100, 100, 0),
    ("17002", "vaccinations", "2021-11-01 10:00", "merged", 40, 40, 0),
    ("17002", "vaccinations", "2021-11-03 20:30", "merged", 40, 40, 0),
    ("17002", "vaccinations", "2021-11-03 21:00", "duplicate", None, None, None),
]
# row problems of the first file: (row, column, code, severity)
PROBLEMS = [
    (3, "citizen_id", "invalid_citizen_id", "error"),
    (3, "full_name", "missing_required", "error"),
    (7, "record_id", "duplicate_in_file", "error"),
    (5, "citizen_id", "legacy_cmnd", "warning"),
]


def local(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=LOCAL)


def key(person: str) -> str:
    return pseudonym("cccd", PERSONS[person][0])


def identifiers() -> list[str]:
    """Every personal value of the fixture: CCCDs, CMNDs, phones (also as +84), full names. (Single name parts
    are left out: they are place names too, "Bình" in "Phường Thái Bình".)"""
    out = []
    for citizen, cmnd, name, phone, *_ in PERSONS.values():
        out += [citizen, phone, "84" + phone[1:], name]
        if cmnd:
            out.append(cmnd)
    return out


def add_file(
    cur, n: int, facility: str, dataset: str, received: str, status: str, rows, loaded, rejected
) -> int:
    duplicate_of = None
    if status == "duplicate":
        cur.execute("select min(file_id) from ops.landing_file")
        duplicate_of = cur.fetchone()[0]
    cur.execute(
        """
        insert into ops.landing_file (sha256, relative_path, original_name, facility_code, dataset, size_bytes,
            received_at, status, duplicate_of, rows_total, rows_loaded, rows_rejected, rows_with_warnings)
        values (%s, %s, %s, %s, %s, 1, %s, %s, %s, %s, %s, %s, 0) returning file_id
        """,
        (
            f"{n:064x}",
            f"{facility}/{dataset}/f{n}.csv",
            f"f{n}.csv",
            facility,
            dataset,
            local(received),
            status,
            duplicate_of,
            rows,
            loaded,
            rejected,
        ),
    )
    return cur.fetchone()[0]


def add_facilities(cur) -> None:
    for code, (district, commune) in FACILITIES.items():
        cur.execute(
            "insert into ops.facility (facility_code, name, facility_type, province_code, district_code,"
            " commune_code, registry_sha256, registered_at) values (%s, %s, 'tram_y_te', '17', %s, %s, %s, %s)",
            (code, f"Trạm y tế {code}", district, commune, "0" * 64, local("2021-11-01 08:00")),
        )


def load(conn) -> None:
    """Insert the whole fixture (one transaction)."""
    with conn, conn.cursor() as cur:
        add_facilities(cur)
        file_ids = [add_file(cur, n, *f) for n, f in enumerate(FILES, start=1)]
        for row, column, code, severity in PROBLEMS:
            cur.execute(
                "insert into quarantine.row_problem values (%s, %s, %s, %s, %s)",
                (file_ids[0], row, column, code, severity),
            )
        person_id = {}
        for p, (citizen, cmnd, name, phone, province, district, commune) in PERSONS.items():
            cur.execute(
                """
                insert into derived.person (person_key, citizen_id, cmnd, full_name, date_of_birth, gender, phone,
                    province_code, district_code, commune_code)
                values (%s, %s, %s, %s, '1990-01-01', 'male', %s, %s, %s, %s) returning person_id
                """,
                (pseudonym("person", citizen), citizen, cmnd, name, phone, province, district, commune),
            )
            person_id[p] = cur.fetchone()[0]
        for n, (p, dose, day, product) in enumerate(DOSES, start=1):
            cur.execute(
                "insert into derived.vaccination_dose values (%s, %s, %s, %s, '17001', %s, 1)",
                (person_id[p], dose, day, product, n),
            )
        for n, (p, test_type, sampled, result) in enumerate(TESTS, start=1):
            citizen, _cmnd, name, phone, province, district, commune = PERSONS[p]
            cur.execute(
                """
                insert into core.test_result (facility_code, record_key, sample_id, full_name, date_of_birth,
                    citizen_id, phone, province_code, district_code, commune_code, test_type, sampled_at, result,
                    resulted_at, source_file_id, source_row)
                values ('17001', %s, %s, %s, '1990-01-01', %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                """,
                (
                    f"r:{n}",
                    f"S{n}",
                    name,
                    citizen,
                    phone,
                    province,
                    district,
                    commune,
                    test_type,
                    local(sampled),
                    result,
                    local(sampled) + dt.timedelta(hours=4),
                    file_ids[2],
                    n,
                ),
            )
        cur.execute(
            "insert into core.venue (venue_code, name, province_code, district_code, commune_code, venue_type,"
            " source_file_id, source_row) values ('V1', 'Chợ Phương Lâm', '17', '148', '04807', 'market', %s, 1),"
            " ('V2', null, null, null, null, null, %s, 2)",
            (file_ids[0], file_ids[0]),
        )
        cur.execute("select core.ensure_checkin_partition('2021-11-05')")
        for cid, venue, scanned, direction, p in CHECKINS:
            cur.execute(
                """
                insert into core.checkin (checkin_id, local_day, venue_code, scanned_at, direction, person_kind,
                    person_key, source_file_id, source_row)
                values (%s, %s, %s, %s, %s, 'cccd', %s, %s, 1)
                """,
                (cid, local(scanned).date(), venue, local(scanned), direction, key(p), file_ids[0]),
            )
        status = {
            "P1": ("green", False, True),
            "P2": ("yellow", False, False),
            "P3": ("green", False, True),
            "P4": ("red", True, False),
        }
        for p, (colour, f0, full) in status.items():
            cur.execute(
                "insert into derived.health_status (rule_set, person_id, as_of, f0, fully_vaccinated, card_colour)"
                " values (%s, %s, %s, %s, %s, %s)",
                (RULE_SET, person_id[p], local("2021-11-10 23:59:59"), f0, full, colour),
            )
        # P4 (F0 since 11-06) met P1 twice and P2 once at V1 on 11-05
        for cand, f0_at, cand_at in (
            ("P1", "08:05", "08:10"),
            ("P1", "08:05", "08:40"),
            ("P2", "08:05", "08:50"),
        ):
            cur.execute(
                """
                insert into derived.contact_candidate (rule_set, f0_person_id, candidate_person_key,
                    candidate_person_id, venue_code, f0_scanned_at, candidate_scanned_at, f0_since, window_end)
                values (%s, %s, %s, %s, 'V1', %s, %s, %s, %s)
                """,
                (
                    RULE_SET,
                    person_id["P4"],
                    key(cand),
                    person_id[cand],
                    local(f"2021-11-05 {f0_at}"),
                    local(f"2021-11-05 {cand_at}"),
                    local("2021-11-06 08:00"),
                    local("2021-11-20 08:00"),
                ),
            )
