"""Seed data: the fee schedule change, and entity rows given by the caller (the kiosk demo's
readers, items, loans and staff come from ``kiosk.embedded_server``: the server knows no demo)."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from library_core.fees import FeeSchedule
from record_server import models as m
from record_server import reader_hashes
from record_server.changes import publish
from record_server.db import Database

log = logging.getLogger(__name__)


def publish_fee_schedule(db: Database, schedule: FeeSchedule) -> None:
    """Offer the fee schedule to kiosks (a new change only when it differs)."""
    data = json.dumps(schedule.to_dict(), sort_keys=True)
    with db.write() as conn:
        row = conn.execute(select(m.changes.c.data).where(
            m.changes.c.entity == "fee_schedule", m.changes.c.entity_id == "current")).first()
        if row is None or row.data != data:
            publish(conn, {}, fee_schedule=schedule)


def seed_rows(db: Database, data: Mapping[str, list[dict[str, Any]]]) -> dict[str, int]:
    """Insert entity rows shaped like the pulled entities (library_core/events.py); skip known ids."""
    tables = {"staff": (m.staff, "staff_no"), "reader": (m.readers, "reader_id"),
              "card": (m.cards, "card_no"), "item": (m.items, "barcode"),
              "loan": (m.loans, "loan_id"), "fee": (m.fees, "fee_id")}
    counts: dict[str, int] = {}
    touched: dict[str, set[str]] = {}
    with db.write() as conn:
        for entity in ("staff", "reader", "card", "item", "loan", "fee"):
            table, key = tables[entity]
            for row in data.get(entity, []):
                if conn.execute(select(table.c[key]).where(table.c[key] == row[key])).first():
                    continue
                values = {k: v for k, v in row.items() if k in table.c}
                if entity == "reader" and "id_number" in values:
                    values.setdefault("id_hash", reader_hashes.of(conn, values["id_number"]))
                conn.execute(table.insert().values(**values))
                touched.setdefault(entity, set()).add(str(row[key]))
                counts[entity] = counts.get(entity, 0) + 1
        publish(conn, touched)
    return counts
