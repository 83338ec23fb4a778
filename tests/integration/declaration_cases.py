"""A declarations file of edge cases for the row codes (issue 24): every column's values combined so that each
code of contract arrivals.md §4 (and the check-in codes the declarations share) fires alone, together and not at
all. Shared by the tests that prove the declaration codes computed on the typed batches equal the SQL rules they
replaced (tests/fixtures/declarations/edge-cases.json, recorded from the SQL rules)."""

from __future__ import annotations

import csv
import datetime as dt
import os
from pathlib import Path

CARD_QR = "001090001234|123456789|Nguyễn Văn An|15031990|Nam|Hà Nội|01012021"
PERSONAL_QR = "001090005678|Trần Thị Bình|1992-04-02|0|QID0001|<2<<0912000111"
MASKED_QR = "00109****678|Lê Văn Cường|1985-**-**|0|QID0002|"

OPTIONS = {
    "declaration_id": ["D{i}", "", "DUP1", "DUP2", " D{i} ", "D{i}x"],
    "kind": ["movement", "health", "Movement", "travel", "", "HEALTH", "movement"],
    "app": ["pccovid", "sskdt", "Sổ SKĐT", "", "other", "PC-Covid", "SSKDT"],
    "submitted_at": [
        "20/11/2021 08:00",
        "2021-11-20T08:00:00+07:00",
        "2021-11-20T01:00:00Z",
        "not a time",
        "",
        "20/11/2031 08:00",
        "15/08/2021 08:00",
        "01/01/1980 08:00",
        "2021-11-21T00:30:00+07:00",
    ],
    "qr_payload": ["", CARD_QR, PERSONAL_QR, MASKED_QR, "a|b|c"],
    "citizen_id": [
        "001090001234",
        "036190001234",
        "099090001234",
        "123456789",
        "1090001234",
        "abc",
        "0010900012",
        "",
        "",
        "17090001234",
        "1.7090001234E+11",
    ],
    "phone": ["0912345678", "12345", "", "+84912345679", "", "0912 345 670"],
    "full_name": ["Nguyễn Văn An", "Nguyen Van An", "12345", "=1+1", "", "Ä‘á»— VÄƒn", "ĐỖ VĂN"],
    "date_of_birth": ["15/03/1990", "1990", "31/02/1990", "", "01/01/2025", "xx", "1985-06-01"],
    "gender": ["Nam", "Nữ", "", "x"],
    "declared_by": ["self", "proxy", "khai hộ", ""],
    # no unreadable province ("xx"): on a movement row it loads as a warning and fails the merge on
    # core.declaration's check (a defect of the merge left as it was: outputs are compared here, not changed)
    "origin_province_code": ["01", "1", "99", "", "79", "17", "01"],
    "origin_district_code": ["001", "1", "148", "999", "", "760", "", "abc"],
    "origin_commune_code": ["00001", "1", "26734", "99999", "", "", "04789", "x"],
    "destination_commune_code": ["04789", "4789", "00004", "99999", "", "zz", "04789", "04792"],
    "travel_date": ["20/11/2021", "2021-11-19", "", "32/13/2021", "20/11/2021"],
    "means": ["đường bộ", "máy bay", "", "ship"],
    "fever": ["Có", "Không", "", "maybe"],
    "cough": ["Không", "Có", ""],
    "contact_with_f0": ["Không", "Có", ""],
}
PRIMES = (7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83)
RECEIVED = dt.datetime(2021, 11, 21, 1, 0, tzinfo=dt.timezone(dt.timedelta(hours=7)))


def clean(i: int = 0) -> dict[str, str]:
    """Row i with every column's first, clean option (declaration id ``D<i>``)."""
    return {column: options[0].format(i=i) for column, options in OPTIONS.items()}


def rows(n: int = 1500) -> list[dict[str, str]]:
    """``n`` rows: in row i, column k (p_k a prime) leaves its first, clean option when (i * p_k + k) is a
    multiple of 7 (about three columns a row), for another option that moves with i, so that options meet in
    many combinations and most rows still load (with warnings or none)."""
    out = []
    for i in range(n):
        row = {}
        for k, (column, options) in enumerate(OPTIONS.items()):
            p = PRIMES[k]
            j = 0 if (i * p + k) % 7 else 1 + ((i // 7) * p + k) % (len(options) - 1)
            row[column] = options[j].format(i=i)
        out.append(row)
    return out


def write(folder: Path, name: str = "edge.csv", n: int = 1500) -> Path:
    """The edge-case file in ``folder``, delivered at :data:`RECEIVED`."""
    return write_rows(folder, name, rows(n))


def write_rows(folder: Path, name: str, data: list[dict[str, str]]) -> Path:
    """``data`` as a declarations CSV in ``folder``, delivered at :data:`RECEIVED`."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(OPTIONS))
        writer.writeheader()
        writer.writerows(data)
    stamp = RECEIVED.timestamp()
    os.utime(path, (stamp, stamp))
    return path
