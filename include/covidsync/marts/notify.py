"""Deliver open alerts to people: an Airflow notifier (``airflow.sdk.BaseNotifier``) that POSTs them as JSON to
``COVIDSYNC_ALERT_WEBHOOK`` and/or e-mails them to ``COVIDSYNC_ALERT_EMAIL`` (through ``COVIDSYNC_SMTP_HOST``,
``host[:port]``, by :func:`send_mail`, one small function over :mod:`smtplib`), then stamps
``ops.alert.notified_at`` so that each alert is sent once.

Use it as a callback (``on_failure_callback=AlertNotifier()``) or call it from a task: ``AlertNotifier()(context)``.
Alerts carry facility codes, days and counts only: no personal data leaves in a message.

Webhook body: ``{"source": "covidsync", "alerts": [{"alert_id", "kind", "subject", "message", "raised_at"}]}``;
any 2xx answer counts as delivered; otherwise the task fails and the alerts stay pending for the next run.
"""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage

from airflow.sdk import BaseNotifier

from covidsync import db, settings
from covidsync.errors import CovidsyncError

log = logging.getLogger(__name__)

SENDER = "covidsync@localhost"
KINDS_LIKE = ("facility_%", "district_%")  # facility reporting; district venue compliance (adoption.md)


def pending(conn) -> list[dict]:
    with conn.cursor() as cur:
        cur.execute(
            "select alert_id, kind, subject, message, raised_at from ops.alert"
            " where resolved_at is null and notified_at is null and kind like any(%s) order by alert_id",
            (list(KINDS_LIKE),),
        )
        return [
            {
                "alert_id": a,
                "kind": k,
                "subject": s,
                "message": m,
                "raised_at": r.isoformat(timespec="seconds"),
            }
            for a, k, s, m, r in cur.fetchall()
        ]


def _post(url: str, alerts: list[dict]) -> None:
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    session = requests.Session()
    retry = Retry(
        total=3, backoff_factor=0.5, status_forcelist=(429, 500, 502, 503, 504), allowed_methods=None
    )
    session.mount("http://", HTTPAdapter(max_retries=retry))
    session.mount("https://", HTTPAdapter(max_retries=retry))
    response = session.post(url, json={"source": "covidsync", "alerts": alerts}, timeout=10)
    response.raise_for_status()


class MailError(CovidsyncError):
    """The alert mail could not be sent; the alerts stay pending for the next run."""


def send_mail(smtp_host: str, recipients: list[str], subject: str, body: str) -> None:
    """Send one plain-text UTF-8 mail through ``smtp_host`` (``host[:port]``, port 25 by default), without
    login or TLS (a relay inside the department's network). Raises :class:`MailError` saying what to check."""
    host, _, port = smtp_host.partition(":")
    if not host or not (port or "25").isdigit():
        raise MailError(f"COVIDSYNC_SMTP_HOST is {smtp_host!r}: set it to host or host:port")
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = SENDER
    msg["To"] = ", ".join(recipients)
    msg.set_content(body)
    try:
        with smtplib.SMTP(host, int(port or 25), timeout=10) as smtp:
            smtp.send_message(msg)
    except OSError as exc:  # smtplib.SMTPException is an OSError too
        raise MailError(
            f"the alert mail could not be sent through {smtp_host} ({exc}); the alerts stay pending: "
            "check COVIDSYNC_SMTP_HOST and COVIDSYNC_ALERT_EMAIL"
        ) from exc


def alert_mail(alerts: list[dict]) -> tuple[str, str]:
    """The subject and body of the mail for some alerts: one line per alert (codes, days, counts only)."""
    subject = f"[covidsync] {len(alerts)} reporting and compliance alert(s)"
    return subject, "\n".join(f"- {a['kind']}: {a['message']}" for a in alerts) + "\n"


def deliver(conn, webhook: str | None, recipients: list[str]) -> int:
    """Send every pending alert once; returns how many were delivered (0 when nothing is configured)."""
    alerts = pending(conn)
    if not alerts:
        return 0
    if not webhook and not recipients:
        log.warning(
            "%d alerts pending, but neither COVIDSYNC_ALERT_WEBHOOK nor COVIDSYNC_ALERT_EMAIL is set",
            len(alerts),
        )
        return 0
    if webhook:
        _post(webhook, alerts)
    if recipients:
        send_mail(settings.smtp_host() or "localhost", recipients, *alert_mail(alerts))
    with conn, conn.cursor() as cur:
        cur.execute(
            "update ops.alert set notified_at = now() where alert_id = any(%s)",
            ([a["alert_id"] for a in alerts],),
        )
    log.info("delivered %d alerts", len(alerts))
    return len(alerts)


class AlertNotifier(BaseNotifier):
    """Sends the pending facility alerts of ``ops.alert`` to the configured webhook and e-mail addresses."""

    template_fields = ("webhook",)

    def __init__(
        self,
        webhook: str | None = None,
        recipients: list[str] | None = None,
        warehouse_url: str | None = None,
    ):
        super().__init__()
        self.webhook = webhook
        self.recipients = recipients
        self.warehouse_url = warehouse_url
        self.delivered = 0

    def notify(self, context) -> None:
        from covidsync.db import warehouse_url

        webhook = self.webhook or settings.alert_webhook()
        recipients = self.recipients if self.recipients is not None else settings.alert_email()
        conn = db.connect(self.warehouse_url or warehouse_url())
        try:
            self.delivered = deliver(conn, webhook, recipients)
        finally:
            conn.close()


__all__ = ["AlertNotifier", "MailError", "alert_mail", "deliver", "pending", "send_mail"]
