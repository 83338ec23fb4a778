"""1,500 valid check-ins on 1,500 different days through the engine, then a one-row file (issue 17, item 4).

Run: ``.venv/bin/python bench/checkin_days.py [days]`` (a server on which databases may be created:
``COVIDSYNC_TEST_WAREHOUSE_URL``, default 127.0.0.1:5432). Before issue 17 the merge failed with ``out of
shared memory`` and the file stayed ``validated`` with no report, failing every later run. Now the partitions
are made ``COVIDSYNC_CHECKIN_PARTITION_BATCH`` days per transaction, and a merge that still passes
``max_locks_per_transaction`` ends ``rejected``/``merge_failed`` with its report while the next file loads.
"""

import csv
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

from covidsync import db
from covidsync.ingest import engine, landing

admin = os.environ.get("COVIDSYNC_TEST_WAREHOUSE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
DAYS = int(sys.argv[1]) if len(sys.argv) > 1 else 1500
name = f"covidsync_b17_days_{os.getpid()}"
db.execute_autocommit(admin, db.create_database_sql(name))
url = admin.rsplit("/", 1)[0] + "/" + name
os.environ["COVIDSYNC_GX_DOCS"] = "0"
try:
    db.upgrade(url)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["COVIDSYNC_DATA_DIR"] = tmp
        base = Path(tmp) / "landing" / "pccovid"
        (base / "venues").mkdir(parents=True)
        (base / "checkins").mkdir()
        (base / "venues" / "v.csv").write_text("venue_code,name\nV001,Chợ\n", encoding="utf-8")
        os.utime(base / "venues" / "v.csv", (time.time() - 100,) * 2)
        with open(base / "checkins" / "c.csv", "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["checkin_id", "venue_code", "scanned_at", "phone"])
            for i in range(DAYS):
                day = dt.date(2022, 1, 1) + dt.timedelta(days=i)
                w.writerow([f"C{i}", "V001", f"{day.isoformat()}T08:00:00+07:00", f"09{i:08d}"])
        with open(base / "checkins" / "d.csv", "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["checkin_id", "venue_code", "scanned_at", "phone"])
            w.writerow(["D1", "V001", "2022-01-01T09:00:00+07:00", "0912345678"])
        conn = db.connect(url)
        with conn:
            landing.load_registry(conn)
        pending = landing.register(conn, scope="pccovid").pending
        t = time.time()
        for fid in engine.pending_in_order(conn, pending):
            print(engine.process_file(conn, fid), round(time.time() - t, 1), flush=True)
        with conn.cursor() as cur:
            cur.execute(
                "select file_id, status, file_codes, left(reason, 120) from ops.landing_file join ops.file_event using (file_id) where to_status in ('merged','rejected') order by 1"
            )
            print(cur.fetchall())
            cur.execute("select count(*) from pg_inherits where inhparent = 'core.checkin'::regclass")
            print("partitions", cur.fetchone())
        conn.close()
finally:
    db.execute_autocommit(admin, f'drop database if exists "{name}" with (force)')
