"""The per-row key checks of the destination (migrations 0013 and 0016) accept and refuse exactly what the
anchored regular expressions they replaced did: the table's own constraint, read from the catalogue, is
evaluated beside the old expression on every edge case, and a refused key cannot be written by COPY."""

from __future__ import annotations

import io

import psycopg2
import psycopg2.errors
import pytest

HEX = "0123456789abcdef"

# (table, constraint, column, the expression it replaced, a value that passes)
CHECKS = [
    ("core.checkin", "checkin_person_key_check", "person_key", "^[0-9a-f]{64}$", HEX * 4),
    ("derived.person", "person_person_key_check", "person_key", "^[0-9a-f]{64}$", HEX * 4),
    ("core.identity_link", "identity_link_citizen_id_check", "citizen_id", "^[0-9]{12}$", "017090000001"),
]


def _edge_cases(good: str) -> list[str]:
    n = len(good)
    neighbours = "/:`g@AFG -_\t\n\r\x7f"  # the characters either side of 0-9 and a-f, case, blanks
    odd = ["é", "e\u0301", "０", "٣", "ß", "ａ", "\u00a0", "\u200b", "ｆ", "Ａ", "\U0001f600"]
    cases = ["", good[:-1], good + good[-1], good.upper(), good + "\n", "\n" + good[:-1], good[:-1] + "\n"]
    cases += [good[: n // 2] + c + good[n // 2 + 1 :] for c in neighbours + "".join(odd)]
    cases += [good[: n // 2] + c + good[n // 2 :] for c in odd]  # one character more, of several bytes
    cases += [good[: n - 2] + c for c in odd]  # one character fewer counted in bytes, as many in letters
    cases += ["0" * n, "9" * n, "a" * n if "a" in good else "1" * n, "f" * n if "f" in good else "8" * n]
    return cases


@pytest.mark.parametrize(("table", "constraint", "column", "regex", "good"), CHECKS)
def test_the_cheap_check_answers_as_the_anchored_regex_on_every_edge_case(
    module_warehouse_url, table, constraint, column, regex, good
):
    conn = psycopg2.connect(module_warehouse_url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "select pg_get_constraintdef(oid) from pg_constraint where conrelid = %s::regclass and conname = %s",
                (table, constraint),
            )
            definition = cur.fetchone()[0]
            assert "{" not in definition, f"{constraint} is the costly anchored form again: {definition}"
            expression = definition.removeprefix("CHECK ").replace(column, "v")
            cases = _edge_cases(good)
            cur.execute(
                f"select v, coalesce({expression}, true), v ~ %s from unnest(%s::text[]) as v",  # noqa: S608
                (regex, cases),
            )
            answers = cur.fetchall()
    finally:
        conn.close()
    assert len(answers) == len(cases)
    different = [(v, cheap, old) for v, cheap, old in answers if cheap != old]
    assert not different, different
    assert sum(old for _, _, old in answers) >= 3, "the cases include values that pass"


def test_a_person_key_that_is_not_64_hex_digits_cannot_be_copied_into_core(warehouse_url):
    conn = psycopg2.connect(warehouse_url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("select core.ensure_checkin_partition('2021-11-20')")
        line = "c{n}\t2021-11-20\tV1\t2021-11-20T01:00:00Z\tcccd\t{key}\t1\t{n}\n"
        columns = "(checkin_id, local_day, venue_code, scanned_at, person_kind, person_key, source_file_id, source_row)"
        for bad in ("B" * 64, "b" * 63 + "é", "b" * 65):
            text = line.format(n=1, key="b" * 64) + line.format(n=2, key=bad)
            with pytest.raises(psycopg2.errors.CheckViolation), conn, conn.cursor() as cur:
                cur.copy_expert(f"copy core.checkin {columns} from stdin", io.StringIO(text))
        with conn, conn.cursor() as cur:
            cur.copy_expert(
                f"copy core.checkin {columns} from stdin", io.StringIO(line.format(n=1, key=HEX * 4))
            )
            cur.execute("select count(*) from core.checkin")
            assert cur.fetchone()[0] == 1
    finally:
        conn.close()
