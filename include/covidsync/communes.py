"""Commune health stations: who reads which commune's work list, and the evening CSV of each commune
(contract docs/contract/arrivals.md §3; the station's guide: docs/commune-stations.md).

- :func:`grant` / :func:`revoke`: a login of a commune health station is a PostgreSQL login role, member of
  ``commune_health``, mapped to its commune codes in ``ops.commune_access``. The view
  ``publish.commune_arrival_followup`` shows it the rows of those communes and nothing else (row-level
  security on ``publish.commune_arrival_row``). ``covidsync communes grant LOGIN COMMUNE…`` / ``revoke``.
- :func:`refresh_worklists`: the rows of the open arrivals, rebuilt from ``derived.arrival`` and its follow-up
  whenever those assets change (DAG ``publish_commune_worklists``) and before the evening files.
- :func:`write_worklists`: each evening, ``<outbox>/communes/<commune_code>/arrivals-YYYY-MM-DD.csv`` with the
  same rows as the view (the open arrivals as of the last status build), UTF-8 with BOM (Excel opens it in
  Vietnamese), Vietnamese headers, every cell neutralised against spreadsheet formulas. Every commune with
  open arrivals or a mapped login gets its file (empty but for the header when nothing is open).

The CSVs hold personal data (name, phone) for the station: the outbox folder of a commune is the station's
only. Logs and return values carry counts and commune codes only.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

from covidsync.errors import CovidsyncError
from covidsync.textsafe import neutralise  # every CSV for people neutralises formula-like cells (issue 17)

log = logging.getLogger(__name__)

ROLE = "commune_health"
_LOCK_KEY = 0x636F6D6D  # "comm": one refresh at a time

# (column of publish.commune_arrival_followup, Vietnamese header)
COLUMNS = (
    ("full_name", "Họ và tên"),
    ("phone", "Số điện thoại"),
    ("arrived_at", "Thời điểm đến"),
    ("seen_by", "Ghi nhận qua"),
    ("checkpoint_venue_code", "Chốt kiểm dịch"),
    ("origin", "Đến từ"),
    ("origin_level", "Cấp độ dịch nơi đi"),
    ("category", "Nhóm"),
    ("measure", "Biện pháp"),
    ("days", "Số ngày"),
    ("ends_on", "Ngày kết thúc"),
    ("due_days", "Ngày phải xét nghiệm"),
    ("sampled_days", "Đã lấy mẫu"),
    ("overdue_days", "Quá hạn xét nghiệm"),
    ("positive_sampled_at", "Dương tính (lấy mẫu lúc)"),
    ("symptoms_reported", "Khai có triệu chứng"),
    ("reported_contact_with_f0", "Khai tiếp xúc F0"),
    ("needs_declaration", "Cần khai báo di chuyển"),
)
_VI = {
    "scan": "quét mã tại chốt",
    "declaration": "khai báo",
    "both": "quét mã và khai báo",
    "recovered": "đã khỏi bệnh (≤ 180 ngày)",
    "fully_vaccinated": "tiêm đủ liều",
    "not_fully_vaccinated": "chưa tiêm đủ liều",
    "self_monitoring": "tự theo dõi sức khỏe",
    "home_quarantine": "cách ly tại nhà",
    "concentrated_quarantine": "cách ly tập trung",
}


class CommuneAccessError(CovidsyncError):
    pass


def _ident(name: str):
    from psycopg2 import sql

    return sql.Identifier(name)


def grant(conn, login: str, communes: list[str], actor: str) -> list[str]:
    """Let ``login`` read the work lists of ``communes`` (Hòa Bình commune codes); returns those added."""
    from psycopg2 import sql

    codes = sorted({c.strip().zfill(5) for c in communes})
    with conn, conn.cursor() as cur:
        cur.execute("select rolcanlogin from pg_catalog.pg_roles where rolname = %s", (login,))
        row = cur.fetchone()
        if row is None or not row[0]:
            raise CommuneAccessError(
                f"{login!r} is not a login of this PostgreSQL server: create it first"
                f" (create role \"{login}\" login password '…'), then grant it again"
            )
        cur.execute(
            "select c from unnest(%s::text[]) as c where c not in (select commune_code from core.commune)",
            (codes,),
        )
        unknown = [r[0] for r in cur.fetchall()]
        if unknown:
            raise CommuneAccessError(
                f"not a commune of Hòa Bình: {', '.join(unknown)} (5-digit GSO codes, e.g. 04789);"
                " nothing was granted"
            )
        cur.execute(sql.SQL("grant {} to {}").format(_ident(ROLE), _ident(login)))
        cur.execute(
            "insert into ops.commune_access (login, commune_code, granted_by)"
            " select %s, c, %s from unnest(%s::text[]) as c on conflict do nothing returning commune_code",
            (login, actor, codes),
        )
        added = sorted(r[0] for r in cur.fetchall())
    log.info("commune access: %d commune(s) granted to a login (%s)", len(added), ", ".join(added))
    return added


def revoke(conn, login: str, communes: list[str] | None) -> list[str]:
    """Take ``communes`` (all when None) from ``login``; a login left with none leaves ``commune_health``."""
    from psycopg2 import sql

    with conn, conn.cursor() as cur:
        if communes:
            codes = sorted({c.strip().zfill(5) for c in communes})
            cur.execute(
                "delete from ops.commune_access where login = %s and commune_code = any(%s)"
                " returning commune_code",
                (login, codes),
            )
        else:
            cur.execute("delete from ops.commune_access where login = %s returning commune_code", (login,))
        removed = sorted(r[0] for r in cur.fetchall())
        cur.execute("select 1 from ops.commune_access where login = %s limit 1", (login,))
        if cur.fetchone() is None:
            cur.execute("select 1 from pg_catalog.pg_roles where rolname = %s", (login,))
            if cur.fetchone():
                cur.execute(sql.SQL("revoke {} from {}").format(_ident(ROLE), _ident(login)))
    return removed


def access(conn) -> list[tuple[str, str, str, dt.datetime]]:
    """Every (login, commune, granted_by, granted_at)."""
    with conn.cursor() as cur:
        cur.execute(
            "select login, commune_code, granted_by, granted_at from ops.commune_access order by login, commune_code"
        )
        rows = cur.fetchall()
    conn.rollback()
    return rows


def refresh_worklists(conn, rule_set: str | None = None) -> int:
    """Rebuild the work list rows (``publish.commune_arrival_row``: the open arrivals as of the last arrivals
    build) from ``derived.arrival`` and its follow-up, in one transaction; returns the rows."""
    from covidsync import sqlfiles
    from covidsync.status import rules

    query = sqlfiles.load("communes", "worklist")
    rs = rules.get(rule_set).name
    with conn, conn.cursor() as cur:
        cur.execute("select pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        cur.execute(query, {"rule_set": rs})
        cur.execute("select count(*) from publish.commune_arrival_row where rule_set = %s", (rs,))
        rows = cur.fetchone()[0]
    log.info("commune work lists refreshed: %d open arrivals", rows)
    return rows


def _cell(value, tz) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "có" if value else "không"
    if isinstance(value, dt.datetime):
        return value.astimezone(tz).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, list):
        return "; ".join(v.isoformat() if hasattr(v, "isoformat") else str(v) for v in value)
    if isinstance(value, str):
        return _VI.get(value, value)
    return str(value)


def write_worklists(conn, day: dt.date, outbox: Path, rule_set: str | None = None) -> dict:
    """Write each commune's open arrivals (as of the last status build) for ``day``; returns counts."""
    import csv
    from zoneinfo import ZoneInfo

    from covidsync import settings
    from covidsync.ingest.sender_report import _atomic_write
    from covidsync.status import rules

    tz = ZoneInfo(settings.LOCAL_TZ)
    rs = rules.get(rule_set).name
    select = ", ".join(c for c, _ in COLUMNS)
    with conn.cursor() as cur:
        cur.execute(
            f"""
            select r.commune_code, {select}
            from publish.commune_arrival_row as r
            join publish.commune_arrival_state as s on s.rule_set = r.rule_set
            where r.rule_set = %s and r.ends_on >= (s.as_of at time zone 'Asia/Ho_Chi_Minh')::date
            order by r.commune_code, r.arrived_at, r.arrival_key
            """,  # noqa: S608 - the columns are constants
            (rs,),
        )
        rows: dict[str, list[tuple]] = {}
        for commune, *row in cur.fetchall():
            rows.setdefault(commune, []).append(tuple(row))
        cur.execute("select distinct commune_code from ops.commune_access")
        mapped = {r[0] for r in cur.fetchall()}
    conn.rollback()
    written = {}
    for commune in sorted(set(rows) | mapped):
        body = rows.get(commune, [])

        def write(fh, body=body) -> None:
            fh.write("\ufeff")
            writer = csv.writer(fh, lineterminator="\r\n")
            writer.writerow([h for _, h in COLUMNS])
            writer.writerows([neutralise(_cell(v, tz)) for v in row] for row in body)

        _atomic_write(outbox / "communes" / commune / f"arrivals-{day.isoformat()}.csv", write)
        written[commune] = len(body)
    log.info("commune work lists for %s: %d communes, %d rows", day, len(written), sum(written.values()))
    return {"day": day.isoformat(), "communes": len(written), "rows": sum(written.values())}
