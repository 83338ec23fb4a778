"""Monitoring of facility reporting: a facility that skipped a day or sent late is alerted (ops.alert, a
reminder in its outbox, the webhook), one that reported on time is not; volume far from its 28-day history is
alerted; reruns raise and send nothing twice; scorecards land in each outbox."""

from __future__ import annotations

import datetime as dt
import json
import threading

import marts_fixture as fx
import psycopg2
import pytest

from covidsync import tasks
from covidsync.marts import facility, notify, refresh


@pytest.fixture
def conn(warehouse_url):
    conn = psycopg2.connect(warehouse_url)
    yield conn
    conn.close()


def alerts(conn):
    with conn.cursor() as cur:
        cur.execute(
            "select kind, subject, resolved_at is null, notified_at is not null from ops.alert order by 2, 1"
        )
        return cur.fetchall()


def test_skipped_day_is_alerted_and_on_time_facility_is_not(conn, areas, webhook, monkeypatch):
    url, received = webhook
    fx.load(conn)
    outbox = areas["outbox"]
    refresh.refresh(conn, dt.date(2021, 11, 3), cutoff="20:00", names=refresh.SCORECARDS)

    result = facility.check_reporting(conn, dt.date(2021, 11, 2), outbox, "20:00")
    assert result["by_kind"] == {"not_reported": 2}
    assert alerts(conn) == [
        ("facility_not_reported", "facility:17002:2021-11-02", True, False),
        ("facility_not_reported", "facility:17003:2021-11-02", True, False),
    ]
    reminder = (outbox / "17002" / "reminder-2021-11-02-not_reported.txt").read_text(encoding="utf-8")
    assert "chưa nhận được báo cáo" in reminder and "no report from facility 17002" in reminder
    assert not (outbox / "17001").exists() or not list((outbox / "17001").glob("reminder-*"))

    # 11-03: 17002's file came at 20:30, after the cut-off: late is not on time
    facility.check_reporting(conn, dt.date(2021, 11, 3), outbox, "20:00")
    assert ("facility_not_reported", "facility:17002:2021-11-03", True, False) in alerts(conn)
    assert not any(s.startswith("facility:17001:") for _k, s, *_ in alerts(conn))

    # a rerun raises nothing twice
    again = facility.check_reporting(conn, dt.date(2021, 11, 2), outbox, "20:00")
    assert again["raised"] == [] and len(again["open"]) == 2
    assert len(alerts(conn)) == 4

    # the notifier delivers each pending alert once, to a real local webhook
    monkeypatch.setenv("COVIDSYNC_ALERT_WEBHOOK", url)
    assert tasks.notify_alerts({}) == {"delivered": 4}
    assert len(received) == 1 and received[0]["source"] == "covidsync"
    assert sorted(a["subject"] for a in received[0]["alerts"])[0] == "facility:17002:2021-11-02"
    assert all(notified for *_x, notified in alerts(conn))
    assert tasks.notify_alerts({}) == {"delivered": 0}
    assert len(received) == 1

    # with a later cut-off, 17002's 20:30 file is on time: recounting resolves that alert
    refresh.refresh(conn, dt.date(2021, 11, 3), cutoff="21:00", names=refresh.SCORECARDS)
    rerun = facility.check_reporting(conn, dt.date(2021, 11, 3), outbox, "21:00")
    assert rerun["resolved"] == 1
    assert ("facility_not_reported", "facility:17002:2021-11-03", False, True) in alerts(conn)


def test_volume_far_from_its_history_is_alerted(conn, areas):
    with conn, conn.cursor() as cur:
        fx.add_facilities(cur)
        n = 0
        for day in range(1, 12):  # 10 days of 100 rows each, then 11-11: 17001 sends 20, 17002 sends 110
            for code, rows in (("17001", 20 if day == 11 else 100), ("17002", 110 if day == 11 else 100)):
                n += 1
                fx.add_file(cur, n, code, "vaccinations", f"2021-11-{day:02d} 09:00", "merged", rows, rows, 0)
    refresh.refresh(conn, dt.date(2021, 11, 11), cutoff="20:00", names=refresh.SCORECARDS)
    result = facility.check_reporting(conn, dt.date(2021, 11, 11), areas["outbox"], "20:00")
    assert result["by_kind"] == {"volume_anomaly": 1, "not_reported": 1}  # 17003 sent nothing at all
    kinds = {(k, s) for k, s, *_ in alerts(conn)}
    assert ("facility_volume_anomaly", "facility:17001:2021-11-11") in kinds
    assert not any(s.startswith("facility:17002:") for _k, s in kinds)
    text = (areas["outbox"] / "17001" / "reminder-2021-11-11-volume_anomaly.txt").read_text(encoding="utf-8")
    assert "20 rows" in text and "median: 100" in text


def test_scorecards_are_exported_to_each_outbox(conn, areas):
    fx.load(conn)
    refresh.refresh(conn, dt.date(2021, 11, 3), cutoff="20:00", names=refresh.SCORECARDS)
    assert facility.export_scorecards(conn, areas["outbox"], dt.date(2021, 11, 3)) == 3
    card = json.loads((areas["outbox"] / "17001" / "scorecard-2021-11.json").read_text(encoding="utf-8"))
    assert card["grade"] == "A" and card["completeness_pct"] == 100.0 and card["expected_reports"] == 3
    assert (card["rows_total"], card["rows_loaded"], card["rows_rejected"]) == (300, 298, 2)
    assert (card["duplicate_files"], card["duplicate_rows"]) == (0, 1)
    assert card["rows_rejected_by_code"] == {
        "duplicate_in_file": 1,
        "invalid_citizen_id": 1,
        "missing_required": 1,
    }
    lines = (areas["outbox"] / "17002" / "scorecard-2021-11.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("day,expected,received,on_time") and len(lines) == 4
    assert lines[2].startswith("2021-11-02,1,0,0")
    first = (areas["outbox"] / "17002" / "scorecard-2021-11.csv").read_bytes()
    facility.export_scorecards(conn, areas["outbox"], dt.date(2021, 11, 3))
    assert (areas["outbox"] / "17002" / "scorecard-2021-11.csv").read_bytes() == first


def test_notifier_is_an_airflow_base_notifier():
    from airflow.sdk import BaseNotifier

    assert issubclass(notify.AlertNotifier, BaseNotifier)


@pytest.fixture
def smtp_server():
    """A minimal real SMTP server on 127.0.0.1 (EHLO, MAIL, RCPT, DATA, QUIT) that keeps each message."""
    import socketserver

    messages: list[dict] = []

    class Handler(socketserver.StreamRequestHandler):
        def handle(self):
            self.wfile.write(b"220 test ESMTP\r\n")
            message = {"rcpt": [], "data": ""}
            while line := self.rfile.readline():
                verb = line.decode().strip().split(" ")[0].upper()
                if verb == "DATA":
                    self.wfile.write(b"354 go on\r\n")
                    data = []
                    while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                        data.append(chunk.decode())
                    message["data"] = "".join(data)
                    messages.append(message)
                    self.wfile.write(b"250 ok\r\n")
                elif verb == "RCPT":
                    message["rcpt"].append(line.decode().strip())
                    self.wfile.write(b"250 ok\r\n")
                elif verb == "QUIT":
                    self.wfile.write(b"221 bye\r\n")
                    return
                else:
                    self.wfile.write(b"250 ok\r\n")

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}", messages
    server.shutdown()
    server.server_close()


def test_alerts_are_emailed_when_configured(conn, areas, smtp_server, monkeypatch):
    host, messages = smtp_server
    fx.load(conn)
    refresh.refresh(conn, dt.date(2021, 11, 2), cutoff="20:00", names=refresh.SCORECARDS)
    facility.check_reporting(conn, dt.date(2021, 11, 2), areas["outbox"], "20:00")
    monkeypatch.delenv("COVIDSYNC_ALERT_WEBHOOK", raising=False)
    assert tasks.notify_alerts({}) == {"delivered": 0}  # nothing configured: the alerts stay pending
    monkeypatch.setenv("COVIDSYNC_SMTP_HOST", host)
    monkeypatch.setenv("COVIDSYNC_ALERT_EMAIL", "so-y-te@example.org, cdc@example.org")
    assert tasks.notify_alerts({}) == {"delivered": 2}
    assert len(messages) == 1 and len(messages[0]["rcpt"]) == 2
    import email
    import email.policy

    body = email.message_from_string(messages[0]["data"], policy=email.policy.default).get_content()
    assert "facility 17002 had sent no report by 20:00 on 2021-11-02" in body


def test_send_mail_delivers_utf8_text_and_says_what_to_check_when_it_cannot(smtp_server):
    import email
    import email.policy
    import socket

    host, messages = smtp_server
    notify.send_mail(
        host, ["so-y-te@example.org"], "[covidsync] Hòa Bình", "- facility_late: Trạm Y tế 17002\n"
    )
    assert len(messages) == 1 and [r.lower() for r in messages[0]["rcpt"]] == [
        "rcpt to:<so-y-te@example.org>"
    ]
    mail = email.message_from_bytes(messages[0]["data"].encode(), policy=email.policy.default)
    assert mail["Subject"] == "[covidsync] Hòa Bình" and mail["To"] == "so-y-te@example.org"
    assert mail.get_content().replace("\r\n", "\n") == "- facility_late: Trạm Y tế 17002\n"

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"127.0.0.1:{probe.getsockname()[1]}"
    with pytest.raises(notify.MailError, match=f"through {closed} .*check COVIDSYNC_SMTP_HOST"):
        notify.send_mail(closed, ["so-y-te@example.org"], "s", "b")
    with pytest.raises(notify.MailError, match="set it to host or host:port"):
        notify.send_mail("mail.example.org:smtp", ["so-y-te@example.org"], "s", "b")
    assert len(messages) == 1
