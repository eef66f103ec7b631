"""Recorded conflicts, newest first."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, select

from record_server import models as m


def list_conflicts(conn: Connection, *, rule: str | None, limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` conflicts (all rules, or only ``rule``), newest first, detail decoded."""
    q = select(m.conflicts).order_by(m.conflicts.c.id.desc()).limit(limit)
    if rule:
        q = q.where(m.conflicts.c.rule == rule)
    rows = conn.execute(q).all()
    return [dict(r._mapping) | {"detail": json.loads(r.detail), "resolved": bool(r.resolved)}
            for r in rows]
