"""SQL files shared by check-ins and declarations (issue 22): each dataset's merge hook fills in every name
placeholder of them (:func:`covidsync.sqlfiles.with_tables`); what is left are the statement's parameters."""

from __future__ import annotations

import re

import psycopg2
import pytest

from covidsync import sqlfiles
from covidsync.ingest import checkins, declarations

SHARED = ("checkin_person_key", "person_merge", "identity_link_merge")
PARAMETERS = {"file_id", "hmac_ikey", "hmac_okey"}


def test_with_tables_quotes_the_names_and_keeps_the_parameters(empty_db):
    conn = psycopg2.connect(empty_db)
    try:
        with conn.cursor() as cur:
            text = "select * from %(t)s as i join %(k)s as k using (file_id) where file_id = %(file_id)s"
            filled = sqlfiles.with_tables(cur, text, t="staging.checkin_identity", k="checkin_person_key")
    finally:
        conn.close()
    assert filled == (
        'select * from "staging"."checkin_identity" as i join "checkin_person_key" as k using (file_id) '
        "where file_id = %(file_id)s"
    )


@pytest.mark.parametrize(
    "tables", [checkins.MERGE_TABLES, declarations.MERGE_TABLES], ids=["checkins", "declarations"]
)
def test_each_dataset_fills_every_name_of_the_shared_files(empty_db, tables):
    conn = psycopg2.connect(empty_db)
    try:
        with conn.cursor() as cur:
            for name in SHARED:
                filled = sqlfiles.with_tables(cur, sqlfiles.load("ingest", name), **tables)
                assert set(re.findall(r"%\((\w+)\)s", filled)) <= PARAMETERS, name
    finally:
        conn.close()
