"""The console's ILS exception report: transactions kiosks queued while the ILS was down and
the ILS refused when forwarded (``ils_exceptions``). Resolving one is recorded like a review
queue item (``review_resolutions`` with item_kind ``ils``) and audited, in one transaction."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.exc import IntegrityError

from record_server import models as m
from record_server.console import audit
from record_server.console.review_data import DECISIONS, ReviewRefused
from record_server.db import Database
from record_server.ils.tables import ils_exceptions

ITEM_KIND = "ils"
LIMIT = 200


def listing(conn: Connection, *, open_only: bool, limit: int = LIMIT) -> list[dict[str, Any]]:
    """Refusals, newest first, each with its resolution (or None)."""
    x, r = ils_exceptions.c, m.review_resolutions.c
    q = (select(ils_exceptions, r.decision, r.note, r.staff_no, r.at.label("resolved_at"))
         .select_from(ils_exceptions.outerjoin(
             m.review_resolutions, (r.item_kind == ITEM_KIND) & (r.item_id == x.event_id))))
    if open_only:
        q = q.where(r.id.is_(None))
    rows = []
    for row in conn.execute(q.order_by(x.refused_at.desc(), x.event_id).limit(limit)):
        d = dict(row._mapping)
        res = {k: d.pop(k) for k in ("decision", "note", "staff_no", "resolved_at")}
        d["resolution"] = res if res["decision"] is not None else None
        rows.append(d)
    return rows


def open_count(conn: Connection) -> int:
    x, r = ils_exceptions.c, m.review_resolutions.c
    return int(conn.execute(select(func.count()).select_from(ils_exceptions.outerjoin(
        m.review_resolutions, (r.item_kind == ITEM_KIND) & (r.item_id == x.event_id)))
        .where(r.id.is_(None))).scalar_one())


def resolve(db: Database, event_id: str, *, decision: str, note: str, staff_no: str,
            now: dt.datetime) -> None:
    """Record how staff settled one refusal and audit it. Raises ReviewRefused:
    ``console.review.bad_decision`` / ``console.review.note_needed`` (422),
    ``console.review.not_found`` (404), ``console.review.already_resolved`` (409)."""
    if decision not in DECISIONS:
        raise ReviewRefused("console.review.bad_decision", 422)
    note = note.strip()
    if not note or len(note) > 300 or any(ord(ch) < 0x20 for ch in note):
        raise ReviewRefused("console.review.note_needed", 422)
    try:
        with db.write() as conn:
            row = conn.execute(select(ils_exceptions).where(
                ils_exceptions.c.event_id == event_id)).first()
            if row is None:
                raise ReviewRefused("console.review.not_found", 404)
            conn.execute(m.review_resolutions.insert().values(
                item_kind=ITEM_KIND, item_id=event_id, decision=decision, note=note,
                staff_no=staff_no, at=now.isoformat()))
            audit.record(conn, staff_no=staff_no, action="review.ils", now=now,
                         target=event_id, kiosk_id=row.kiosk_id,
                         before={"resolved": False, "queue_kind": row.queue_kind,
                                 "key": row.key, "answer": row.answer},
                         after={"resolved": True, "decision": decision}, reason=note)
    except IntegrityError:
        raise ReviewRefused("console.review.already_resolved") from None
