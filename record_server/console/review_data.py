"""The review queue: conflicts (with the rule that decided), events the server rejected (with
the reason it gave) and offline staff actions awaiting a supervisor (conflicts of rule
``offline_staff_action``). Resolving one records who, how and why (``review_resolutions``),
marks a conflict resolved and writes an audit row, in one transaction."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.exc import IntegrityError

from record_server import models as m
from record_server.console import audit
from record_server.db import Database

OFFLINE_STAFF_RULE = "offline_staff_action"
KINDS = ("conflict", "offline", "rejected")
DECISIONS = ("upheld", "overruled", "noted")
LIMIT = 200


class ReviewRefused(Exception):
    """A resolution the queue does not take; ``reason`` is a console message id."""

    def __init__(self, reason: str, status: int = 409) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


def _resolutions(conn: Connection, item_kind: str, ids: list[str]) -> dict[str, dict[str, Any]]:
    if not ids:
        return {}
    r = m.review_resolutions.c
    return {row.item_id: dict(row._mapping) for row in conn.execute(
        select(m.review_resolutions).where(r.item_kind == item_kind, r.item_id.in_(ids)))}


def conflicts(conn: Connection, *, offline: bool, open_only: bool,
              limit: int = LIMIT) -> list[dict[str, Any]]:
    """Conflicts (``offline``: only offline staff actions; else every other rule), open first."""
    c = m.conflicts.c
    q = select(m.conflicts).where(c.rule == OFFLINE_STAFF_RULE if offline
                                  else c.rule != OFFLINE_STAFF_RULE)
    if open_only:
        q = q.where(c.resolved.is_(False))
    rows = [dict(r._mapping) for r in conn.execute(
        q.order_by(c.resolved, c.id.desc()).limit(limit))]
    found = _resolutions(conn, "conflict", [str(r["id"]) for r in rows])
    for r in rows:
        r["detail"] = json.loads(r["detail"]) if r["detail"] else {}
        r["resolution"] = found.get(str(r["id"]))
        r["resolved"] = bool(r["resolved"])
    return rows


def rejected(conn: Connection, *, open_only: bool, limit: int = LIMIT) -> list[dict[str, Any]]:
    """Events the server refused (stored with their reason), newest first."""
    e = m.events.c
    rows = [dict(r._mapping) for r in conn.execute(
        select(e.event_id, e.kiosk_id, e.seq, e.kind, e.occurred_at, e.received_at, e.detail,
               e.rule).where(e.status == "rejected")
        .order_by(e.received_at.desc(), e.seq.desc()).limit(limit * 2 if open_only else limit))]
    found = _resolutions(conn, "rejected", [r["event_id"] for r in rows])
    for r in rows:
        r["resolution"] = found.get(r["event_id"])
        r["resolved"] = r["resolution"] is not None
    if open_only:
        rows = [r for r in rows if not r["resolved"]]
    return rows[:limit]


def open_counts(conn: Connection) -> dict[str, int]:
    """How many items wait in each part of the queue."""
    c, e, r = m.conflicts.c, m.events.c, m.review_resolutions.c
    counts = {"conflict": 0, "offline": 0}
    for offline, n in conn.execute(select(c.rule == OFFLINE_STAFF_RULE, func.count())
                                   .where(c.resolved.is_(False))
                                   .group_by(c.rule == OFFLINE_STAFF_RULE)):
        counts["offline" if offline else "conflict"] += int(n)
    total = conn.execute(select(func.count()).select_from(m.events)
                         .where(e.status == "rejected")).scalar_one()
    done = conn.execute(select(func.count()).select_from(m.review_resolutions)
                        .where(r.item_kind == "rejected")).scalar_one()
    counts["rejected"] = int(total) - int(done)
    return counts


@dataclass(frozen=True)
class Resolution:
    kind: str  # conflict | offline | rejected
    item_id: str
    decision: str
    note: str


def resolve(db: Database, res: Resolution, *, staff_no: str, now: dt.datetime) -> None:
    """Record the resolution and audit it. Raises ReviewRefused: ``console.review.bad_decision``
    (422), ``console.review.note_needed`` (422), ``console.review.not_found`` (404),
    ``console.review.already_resolved`` (409)."""
    if res.kind not in KINDS or res.decision not in DECISIONS:
        raise ReviewRefused("console.review.bad_decision", 422)
    note = res.note.strip()
    if not note or len(note) > 300 or any(ord(ch) < 0x20 for ch in note):
        raise ReviewRefused("console.review.note_needed", 422)
    item_kind = "rejected" if res.kind == "rejected" else "conflict"
    try:
        with db.write() as conn:
            before = _item(conn, res.kind, res.item_id)
            conn.execute(m.review_resolutions.insert().values(
                item_kind=item_kind, item_id=res.item_id, decision=res.decision, note=note,
                staff_no=staff_no, at=now.isoformat()))
            if item_kind == "conflict":
                conn.execute(m.conflicts.update().where(m.conflicts.c.id == int(res.item_id))
                             .values(resolved=True))
            audit.record(conn, staff_no=staff_no, action=f"review.{res.kind}", now=now,
                         target=res.item_id, kiosk_id=before.get("kiosk_id"),
                         before={"resolved": False, **{k: before[k] for k in ("rule", "detail")
                                                        if k in before}},
                         after={"resolved": True, "decision": res.decision}, reason=note)
    except IntegrityError:
        raise ReviewRefused("console.review.already_resolved") from None


def _item(conn: Connection, kind: str, item_id: str) -> dict[str, Any]:
    if kind == "rejected":
        e = m.events.c
        row = conn.execute(select(e.kiosk_id, e.rule, e.detail).where(
            e.event_id == item_id, e.status == "rejected")).first()
    else:
        if not item_id.isdigit():
            raise ReviewRefused("console.review.not_found", 404)
        c = m.conflicts.c
        row = conn.execute(select(c.kiosk_id, c.rule, c.resolved).where(
            c.id == int(item_id))).first()
        if row is not None and (row.rule == OFFLINE_STAFF_RULE) != (kind == "offline"):
            row = None
        if row is not None and row.resolved:
            raise ReviewRefused("console.review.already_resolved")
    if row is None:
        raise ReviewRefused("console.review.not_found", 404)
    return dict(row._mapping)
