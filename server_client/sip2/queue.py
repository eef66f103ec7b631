"""``StoreForwardQueue``: the ILS store-and-forward queue in the kiosk store (table
``ils_queue``, store schema 7). A pending transaction is unique by kind and key (the item for
a check-in, our transaction id for a fee paid, the patron for a block), so queueing the same
one twice keeps one; it is settled once (``forwarded`` or ``refused``) and never sent again.
Joins the caller's transaction when there is one (the use case's audit commits with it).
A refusal also goes to the record server as ``ils.refused`` (in the same transaction), for the
console's ILS exception report."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from kiosk.services.circulation import QUEUE_BLOCK, QUEUE_CHECKIN, QUEUE_FEE_PAID, Queued
from library_core import events
from library_core.contract.ils import ANSWER_MAX
from server_client.store.connection import StoreCore

_KEYS = {QUEUE_CHECKIN: "item", QUEUE_FEE_PAID: "transaction_id", QUEUE_BLOCK: "patron"}


class StoreForwardQueue:
    def __init__(self, store: StoreCore) -> None:
        self.store = store

    def add(self, kind: str, payload: Mapping[str, Any], *, at: dt.datetime) -> int:
        key = str(payload[_KEYS[kind]])
        with self.store.transaction() as tx:
            tx.execute("INSERT OR IGNORE INTO ils_queue (kind, key, payload, queued_at)"
                       " VALUES (?, ?, ?, ?)",
                       (kind, key, json.dumps(dict(payload), ensure_ascii=False, sort_keys=True),
                        at.isoformat()))
            row = tx.one("SELECT queue_id FROM ils_queue WHERE kind = ? AND key = ?"
                         " AND status = 'pending'", (kind, key))
        assert row is not None
        return int(row[0])

    def pending(self) -> list[Queued]:
        return self._rows("status = 'pending'")

    def pending_count(self) -> int:
        return self.store.count("ils_queue", "status = 'pending'")

    def settle(self, queue_id: int, status: str, answer: str, *, at: dt.datetime) -> None:
        with self.store.transaction() as tx:
            row = tx.one("SELECT kind, key, payload, queued_at FROM ils_queue"
                         " WHERE queue_id = ? AND status = 'pending'", (queue_id,))
            tx.execute("UPDATE ils_queue SET status = ?, answer = ?, settled_at = ?"
                       " WHERE queue_id = ? AND status = 'pending'",
                       (status, answer, at.isoformat(), queue_id))
            if row is not None and status == "refused":
                tx.emit(events.ILS_REFUSED, _refused_payload(row, answer),
                                occurred_at=at)

    def exceptions(self) -> list[Queued]:
        return self._rows("status = 'refused'")

    def _rows(self, where: str) -> list[Queued]:
        rows = self.store.read(f"SELECT queue_id, kind, payload, queued_at, status, answer"
                               f" FROM ils_queue WHERE {where} ORDER BY queue_id")
        return [Queued(int(r["queue_id"]), str(r["kind"]), json.loads(r["payload"]),
                       dt.datetime.fromisoformat(r["queued_at"]), str(r["status"]),
                       str(r["answer"])) for r in rows]


def _refused_payload(row: Any, answer: str) -> dict[str, Any]:
    """``ils.refused`` for one queue row (``library_core.contract.ils.IlsRefused``)."""
    payload = json.loads(row["payload"])
    clean = "".join(" " if ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 else ch for ch in answer)
    out: dict[str, Any] = {"queue_kind": str(row["kind"]), "key": str(row["key"]),
                           "answer": clean[:ANSWER_MAX], "queued_at": str(row["queued_at"])}
    if row["kind"] == QUEUE_FEE_PAID and isinstance(payload.get("amount"), int):
        out["amount"] = payload["amount"]
    return out
