"""The identity review queue: list the conflicts the rules left open, and record an operator's decision.

A decision is a pair: the item's subject identifier and one of its candidates (a person's anchor
identifier, or ``dob:YYYY-MM-DD`` for a birth-date conflict), decided ``merge`` (the same person) or
``distinct`` (not the same person). Decisions are kept in ``derived.identity_decision`` and applied by every
build, full or incremental; the review queue itself is rebuilt by each build from the data and decisions.
"""

from __future__ import annotations

import re

from covidsync.errors import CovidsyncError


class ReviewError(CovidsyncError):
    pass


def items(conn, include_decided: bool = False) -> list[dict]:
    with conn.cursor() as cur:
        cur.execute(
            """
            select review_key, kind, subject_kind, subject_value, candidates, status, found_at
            from derived.identity_review order by kind, subject_kind, subject_value
            """
        )
        rows = [
            dict(
                zip(
                    (
                        "review_key",
                        "kind",
                        "subject_kind",
                        "subject_value",
                        "candidates",
                        "status",
                        "found_at",
                    ),
                    r,
                    strict=True,
                )
            )
            for r in cur.fetchall()
        ]
        if include_decided:
            cur.execute(
                """
                select decision_id, kind, value, other_kind, other_value, decision, reason, decided_by, decided_at
                from derived.identity_decision order by decision_id
                """
            )
            for r in cur.fetchall():
                rows.append(
                    {
                        "review_key": f"decision {r[0]}",
                        "kind": "decision",
                        "subject_kind": r[1],
                        "subject_value": r[2],
                        "candidates": [f"{r[3]}:{r[4]}"],
                        "status": r[5],
                        "reason": r[6],
                        "decided_by": r[7],
                        "found_at": r[8],
                    }
                )
    return rows


def decide(conn, review_key: str, candidate: int, decision: str, reason: str, actor: str) -> dict:
    """Record ``decision`` ('merge' or 'distinct') between the item's subject and its ``candidate`` (1-based).

    Commits. Takes effect at the next build; a decision on the same pair replaces the earlier one."""
    if decision not in ("merge", "distinct"):
        raise ReviewError("a decision is 'merge' (the same person) or 'distinct' (not the same person)")
    if not reason or not reason.strip():
        raise ReviewError("give a reason: it is kept with the decision")
    with conn, conn.cursor() as cur:
        cur.execute(
            "select kind, subject_kind, subject_value, candidates from derived.identity_review where review_key = %s",
            (review_key,),
        )
        row = cur.fetchone()
        if row is None:
            raise ReviewError(f"no review item {review_key!r}: see `covidsync review list`")
        kind, subject_kind, subject_value, candidates = row
        if not 1 <= candidate <= len(candidates):
            raise ReviewError(f"review item {review_key} has candidates 1 to {len(candidates)}")
        other_kind, other_value = candidates[candidate - 1].split(":", 1)
        if decision == "merge" and subject_kind == "cccd" and other_kind == "cccd":
            raise ReviewError("two CCCDs are two people by law: they cannot be merged")
        if other_kind == "dob" and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", other_value):
            raise ReviewError(f"not a birth date: {other_value!r}")
        cur.execute(
            """
            insert into derived.identity_decision (kind, value, other_kind, other_value, decision, reason, decided_by)
            values (%s, %s, %s, %s, %s, %s, %s)
            on conflict (kind, value, other_kind, other_value) do update set
                decision = excluded.decision, reason = excluded.reason, decided_by = excluded.decided_by,
                decided_at = now()
            returning decision_id
            """,
            (subject_kind, subject_value, other_kind, other_value, decision, reason.strip(), actor),
        )
        decision_id = cur.fetchone()[0]
    return {"decision_id": decision_id, "review_key": review_key, "kind": kind, "decision": decision}
