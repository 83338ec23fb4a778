"""Deliver open alerts to people: an Airflow notifier (``airflow.sdk.BaseNotifier``) that POSTs them as JSON to
``COVIDSYNC_ALERT_WEBHOOK`` and/or e-mails them to ``COVIDSYNC_ALERT_EMAIL`` (through ``COVIDSYNC_SMTP_HOST``,
``host[:port]``), then stamps ``ops.alert.notified_at`` so that each alert is sent once.

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

log = logging.getLogger(__name__)

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


def _mail(recipients: list[str], alerts: list[dict]) -> None:
    host, _, port = (settings.smtp_host() or "localhost").partition(":")
    msg = EmailMessage()
    msg["Subject"] = f"[covidsync] {len(alerts)} reporting and compliance alert(s)"
    msg["From"] = "covidsync@localhost"
    msg["To"] = ", ".join(recipients)
    msg.set_content("\n".join(f"- {a['kind']}: {a['message']}" for a in alerts) + "\n")
    with smtplib.SMTP(host, int(port or 25), timeout=10) as smtp:
        smtp.send_message(msg)


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
        _mail(recipients, alerts)
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


__all__ = ["AlertNotifier", "deliver", "pending"]
