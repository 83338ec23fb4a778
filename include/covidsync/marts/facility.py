"""Facility scorecards in the outboxes, and alerts for facilities that did not report or sent an odd volume.

Scorecards (DHIS2's completeness and timeliness, per facility): ``<outbox>/<facility>/scorecard-YYYY-MM.csv``
(one line per day of the month so far) and ``scorecard-YYYY-MM.json`` (the month's totals and grade), read
from ``mart.facility_reporting_day`` and ``mart.facility_reporting_month``.

Alerts for a local day (``sql/marts/facility_alert_candidate.sql``): ``facility_not_reported`` (nothing had
arrived by the cut-off) and ``facility_volume_anomaly`` (rows outside 0.5-2 times the median of its reporting
days among the 28 before). Each is one open row of ``ops.alert`` (subject ``facility:<code>:<day>``; a rerun
adds none) and a reminder ``<outbox>/<facility>/reminder-<day>-<kind>.txt`` in Vietnamese and English. An
alert whose condition no longer holds on a rerun (the file came in late and was recounted) is resolved.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path

from covidsync import textsafe
from covidsync.ingest.sender_report import _atomic_write
from covidsync.marts.refresh import sql

log = logging.getLogger(__name__)

VOLUME_LOW = 0.5
VOLUME_HIGH = 2.0
MIN_HISTORY_DAYS = 7

DAY_COLUMNS = (
    "day",
    "expected",
    "received",
    "on_time",
    "first_received_at",
    "cutoff",
    "files",
    "files_rejected",
    "files_held",
    "duplicate_files",
    "duplicate_rows",
    "rows_total",
    "rows_loaded",
    "rows_rejected",
    "rows_with_warnings",
    "rejection_rate",
)


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.isoformat(timespec="seconds")
    return str(value)


def export_scorecards(conn, outbox: Path, month: dt.date) -> int:
    """Write each facility's scorecard for the month containing ``month``; returns facilities written."""
    first = month.replace(day=1)
    written = 0
    with conn.cursor() as cur:
        cur.execute(
            "select facility_code, expected, received, on_time, completeness_pct, timeliness_pct, rows_total,"
            " rows_rejected, rejection_rate, grade from mart.facility_reporting_month where month = %s"
            " order by facility_code",
            (first,),
        )
        months = cur.fetchall()
        for code, expected, received, on_time, complete, timely, rows, rejected, rate, grade in months:
            cur.execute(
                f"select {', '.join(DAY_COLUMNS)} from mart.facility_reporting_day"  # noqa: S608 (constants)
                " where facility_code = %s and date_trunc('month', day) = %s order by day",
                (code, first),
            )
            days = cur.fetchall()
            cur.execute(
                "select code, sum(rows_affected) from mart.facility_rejection_day"
                " where facility_code = %s and date_trunc('month', day) = %s group by code order by code",
                (code, first),
            )
            by_code = {c: int(n) for c, n in cur.fetchall()}
            folder = outbox / code
            stem = f"scorecard-{first:%Y-%m}"

            def write_csv(fh, days=days) -> None:
                writer = textsafe.writer(fh)  # issue 17: formula-like cells neutralised
                writer.writerow(DAY_COLUMNS)
                writer.writerows([_text(v) for v in row] for row in days)

            summary = {
                "facility_code": code,
                "month": f"{first:%Y-%m}",
                "expected_reports": expected,
                "received_reports": received,
                "on_time_reports": on_time,
                "completeness_pct": float(complete),
                "timeliness_pct": float(timely),
                "rows_total": rows,
                "rows_loaded": sum(r[DAY_COLUMNS.index("rows_loaded")] for r in days),
                "rows_rejected": rejected,
                "duplicate_files": sum(r[DAY_COLUMNS.index("duplicate_files")] for r in days),
                "duplicate_rows": sum(r[DAY_COLUMNS.index("duplicate_rows")] for r in days),
                "rejection_rate": None if rate is None else float(rate),
                "rows_rejected_by_code": by_code,
                "grade": grade,
            }
            _atomic_write(folder / f"{stem}.csv", write_csv)
            _atomic_write(
                folder / f"{stem}.json",
                lambda fh, s=summary: json.dump(s, fh, ensure_ascii=False, indent=2),
            )
            written += 1
    log.info("scorecards for %s written for %d facilities", f"{first:%Y-%m}", written)
    return written


_REMINDER = {
    "not_reported": (
        "Nhắc nhở: đến {cutoff} ngày {day}, hệ thống chưa nhận được báo cáo của cơ sở {code}.\n"
        "Vui lòng gửi tệp tiêm chủng / xét nghiệm của ngày hôm nay vào thư mục landing của cơ sở.\n",
        "Reminder: by {cutoff} on {day} no report from facility {code} had arrived.\n"
        "Please send today's vaccination / test-result file to the facility's landing folder.\n",
    ),
    "volume_anomaly": (
        "Lưu ý: ngày {day} cơ sở {code} gửi {rows} dòng, khác nhiều so với mức thường ngày (trung vị 28 ngày:"
        " {median}). Vui lòng kiểm tra đã gửi đủ dữ liệu.\n",
        "Note: on {day} facility {code} sent {rows} rows, far from its usual volume (28-day median: {median}).\n"
        "Please check that everything was sent.\n",
    ),
}
_MESSAGE = {
    "not_reported": "facility {code} had sent no report by {cutoff} on {day}",
    "volume_anomaly": "facility {code} sent {rows} rows on {day}; its 28-day median is {median}",
}


def check_reporting(conn, day: dt.date, outbox: Path, cutoff: str) -> dict:
    """Raise the day's facility alerts and write reminders; returns counts and the alert ids (no rows)."""
    params = {"day": day, "low": VOLUME_LOW, "high": VOLUME_HIGH, "min_history": MIN_HISTORY_DAYS}
    raised: list[int] = []
    open_ids: list[int] = []
    with conn, conn.cursor() as cur:
        cur.execute(sql("facility_alert_candidate"), params)
        candidates = cur.fetchall()
        subjects = []
        for code, kind, _received, rows, median in candidates:
            values = {
                "code": code,
                "day": day.isoformat(),
                "cutoff": cutoff,
                "rows": rows,
                "median": "" if median is None else f"{median:g}",
            }
            subject = f"facility:{code}:{day.isoformat()}"
            subjects.append((f"facility_{kind}", subject))
            cur.execute(
                "select alert_id from ops.alert where kind = %s and subject = %s and resolved_at is null",
                (f"facility_{kind}", subject),
            )
            found = cur.fetchone()
            if found:
                open_ids.append(found[0])
            else:
                cur.execute(
                    "insert into ops.alert (kind, subject, message) values (%s, %s, %s) returning alert_id",
                    (f"facility_{kind}", subject, _MESSAGE[kind].format(**values)),
                )
                raised.append(cur.fetchone()[0])
            vi, en = _REMINDER[kind]
            text = vi.format(**values) + "\n" + en.format(**values)
            _atomic_write(
                outbox / code / f"reminder-{day.isoformat()}-{kind}.txt", lambda fh, t=text: fh.write(t)
            )
        # a condition that no longer holds (a late file recounted, a threshold changed) resolves its alert
        cur.execute(
            "select alert_id, kind, subject from ops.alert where resolved_at is null"
            " and kind in ('facility_not_reported', 'facility_volume_anomaly') and subject like %s",
            (f"facility:%:{day.isoformat()}",),
        )
        stale = [aid for aid, kind, subject in cur.fetchall() if (kind, subject) not in subjects]
        if stale:
            cur.execute("update ops.alert set resolved_at = now() where alert_id = any(%s)", (stale,))
        resolved = len(stale)
    counts: dict[str, int] = {}
    for _code, kind, *_ in candidates:
        counts[kind] = counts.get(kind, 0) + 1
    log.info(
        "facility reporting on %s: %s; %d alerts raised, %d resolved", day, counts, len(raised), resolved
    )
    return {
        "day": day.isoformat(),
        "by_kind": counts,
        "raised": raised,
        "open": open_ids,
        "resolved": resolved,
    }
