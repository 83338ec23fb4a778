"""The keyed hash is the same in Python and in SQL, and depends on the key."""

import psycopg2
import pytest

from covidsync import privacy


@pytest.mark.parametrize("secret", ["", "short", "k" * 100])
def test_sql_equals_python(warehouse_url, monkeypatch, secret):
    monkeypatch.setenv("COVIDSYNC_PSEUDONYM_KEY", secret)
    values = [
        ("cccd", "017080123456"),
        ("cmnd", "113456789"),
        ("qid", "Bùi Văn Hùng"),
        ("phone", "0912345678"),
    ]
    conn = psycopg2.connect(warehouse_url)
    try:
        with conn.cursor() as cur:
            for kind, value in values:
                cur.execute(
                    "select " + privacy.sql_pseudonym("%(kind)s", "%(value)s"),
                    {"kind": kind, "value": value, **privacy.sql_params()},
                )
                assert cur.fetchone()[0] == privacy.pseudonym(kind, value)
    finally:
        conn.close()


def test_key_changes_pseudonym(monkeypatch):
    monkeypatch.setenv("COVIDSYNC_PSEUDONYM_KEY", "one")
    first = privacy.pseudonym("cccd", "017080123456")
    monkeypatch.setenv("COVIDSYNC_PSEUDONYM_KEY", "two")
    assert privacy.pseudonym("cccd", "017080123456") != first
    assert len(first) == 64 and "017080123456" not in first


def test_unknown_kind_refused():
    with pytest.raises(ValueError):
        privacy.pseudonym("passport", "B1234567")
