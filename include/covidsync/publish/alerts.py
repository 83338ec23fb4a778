"""Raise and resolve operator alerts in ``ops.alert`` (one open alert per kind and subject)."""

from __future__ import annotations


def raise_alert(cur, kind: str, subject: str, message: str) -> bool:
    """Open an alert unless one of the same kind and subject is open; True when a new one was opened.

    The message names releases, apps and counts only: never a person.
    """
    cur.execute(
        """
        insert into ops.alert (kind, subject, message)
        select %(kind)s, %(subject)s, %(message)s
        where not exists (
            select from ops.alert where kind = %(kind)s and subject = %(subject)s and resolved_at is null
        )
        """,
        {"kind": kind, "subject": subject, "message": message},
    )
    return cur.rowcount == 1


def resolve_alerts(cur, kind: str, subject: str | None = None) -> int:
    """Close the open alerts of a kind (and subject); returns how many."""
    cur.execute(
        """
        update ops.alert set resolved_at = now()
        where kind = %(kind)s and resolved_at is null and (%(subject)s::text is null or subject = %(subject)s)
        """,
        {"kind": kind, "subject": subject},
    )
    return cur.rowcount
