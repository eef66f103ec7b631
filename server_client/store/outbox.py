"""The outbox (events waiting for the server, and its answers) and the sync bookkeeping (pull
cursor, last good sync). Events are written by ``Tx.emit``, checked against the contract."""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from library_core import events
from library_core.identity import mask_mobile, mask_resident_id
from server_client.store.connection import StoreCore

log = logging.getLogger(__name__)

PUSH_STATUSES = frozenset({"applied", "duplicate", "conflict", "rejected"})
CURSOR_KEY = "pull_cursor"
_SCRUBBED_KINDS = frozenset({events.READER_REGISTERED, events.VISIT_OPENED})


def scrubbed(payload: dict[str, Any]) -> dict[str, Any]:
    """A pushed registration (a reader's or a visitor's) as the kiosk keeps it: the ID number
    and phone masked, the PIN hash gone (the server has them; the kiosk holds no one's identity
    or PIN hash)."""
    out = {k: v for k, v in payload.items() if k != "pin_hash"}
    if isinstance(out.get("id_number"), str):
        out["id_number"] = mask_resident_id(out["id_number"])
    for key in ("phone", "guardian_phone"):
        if isinstance(out.get(key), str):
            out[key] = mask_mobile(out[key])
    return out
LAST_SYNC_KEY = "last_sync_at"
KIOSK_NO_KEY = "kiosk_no"  # assigned by the record server at enrollment


class OutboxStore(StoreCore):
    """The outbox and cursor part of ``Store``."""

    def pending_events(self, limit: int) -> list[dict[str, Any]]:
        """Pending outbox envelopes, priority 1 first, then by seq."""
        rows = self.read(
            "SELECT event_id, seq, kind, occurred_at, priority, contract_version, payload,"
            " staff_proof FROM outbox"
            " WHERE status = 'pending' ORDER BY priority DESC, seq LIMIT ?", (limit,))
        return [{
            "event_id": r["event_id"], "kiosk_id": self.kiosk_id, "seq": r["seq"],
            "kind": r["kind"], "occurred_at": r["occurred_at"], "priority": r["priority"],
            "contract_version": r["contract_version"], "payload": json.loads(r["payload"]),
            **({"staff_proof": json.loads(r["staff_proof"])} if r["staff_proof"] else {}),
        } for r in rows]

    def record_push_results(self, results: list[dict[str, Any]]) -> None:
        """Store the server's answer per event; every non-pending status leaves the queue.

        A registration the server answered (any status: it is never sent again) keeps only
        the masked ID number and phone and no PIN hash (``scrubbed``)."""
        now = dt.datetime.now(dt.UTC).isoformat()
        with self.transaction() as tx:
            for res in results:
                status = res.get("status")
                if status not in PUSH_STATUSES:
                    log.warning("push result with status %r for %s ignored", status,
                                res.get("event_id"))
                    continue
                n = tx.update("outbox", "event_id", str(res["event_id"]), {
                    "status": status, "detail": str(res.get("detail") or ""),
                    "rule": str(res.get("rule") or ""), "pushed_at": now,
                })
                if n == 0:
                    log.warning("push result for unknown event %s", res.get("event_id"))
                    continue
                row = tx.one("SELECT kind, payload FROM outbox WHERE event_id = ?",
                             (str(res["event_id"]),))
                if row is not None and row["kind"] in _SCRUBBED_KINDS:
                    tx.update("outbox", "event_id", str(res["event_id"]), {"payload": json.dumps(
                        scrubbed(json.loads(row["payload"])), ensure_ascii=False,
                        sort_keys=True)})

    def pending_count(self) -> int:
        return self.count("outbox", "status = 'pending'")

    def problem_events(self) -> list[dict[str, Any]]:
        """Events the server answered with conflict or rejected, for staff to see."""
        rows = self.read(
            "SELECT event_id, seq, kind, occurred_at, payload, status, detail, rule, pushed_at"
            " FROM outbox WHERE status IN ('conflict', 'rejected') ORDER BY seq")
        return [dict(r) | {"payload": json.loads(r["payload"])} for r in rows]

    def last_sync_at(self) -> dt.datetime | None:
        value = self.get_value(LAST_SYNC_KEY)
        return dt.datetime.fromisoformat(value) if value else None

    def set_last_sync(self, when: dt.datetime) -> None:
        self.set_value(LAST_SYNC_KEY, when.isoformat())

    def pull_cursor(self) -> int:
        value = self.get_value(CURSOR_KEY)
        return int(value) if value else 0

    # -- resuming from the server's position (a wiped store, or one restored from a copy) ------
    def kiosk_no(self) -> int | None:
        """The number the server assigned to this kiosk (learned at enrollment or start-up)."""
        value = self.get_value(KIOSK_NO_KEY)
        return int(value) if value else None

    def set_kiosk_no(self, kiosk_no: int) -> None:
        self.set_value(KIOSK_NO_KEY, str(int(kiosk_no)))

    def counter(self, name: str) -> int:
        row = self.read_one("SELECT value FROM counters WHERE name = ?", (name,))
        return int(row[0]) if row else 0

    def raise_counters(self, floors: dict[str, int]) -> dict[str, int]:
        """Move named counters up to at least the given values (never down); returns the
        counters that moved, with their old values."""
        moved: dict[str, int] = {}
        with self.transaction() as tx:
            for name, floor in floors.items():
                row = tx.one("SELECT value FROM counters WHERE name = ?", (name,))
                old = int(row[0]) if row else 0
                if floor > old:
                    tx.execute("INSERT INTO counters (name, value) VALUES (?, ?)"
                               " ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                               (name, int(floor)))
                    moved[name] = old
        return moved

    def pending_below(self, seq: int, limit: int) -> list[dict[str, Any]]:
        """Pending envelopes whose seq is below ``seq`` (the server has used those numbers)."""
        return [e for e in self.pending_events(limit) if int(e["seq"]) < seq]

    def resequence(self, event_ids: list[str], next_seq: int) -> int:
        """Give the pending events ``event_ids`` (their seq was used on the server by other
        events) new numbers from ``next_seq`` on, keeping the outbox order: every pending event
        from the first of them on is renumbered in its old order, so nothing made after one
        of them is pushed before it. Returns how many events were renumbered."""
        if not event_ids:
            return 0
        with self.transaction() as tx:
            marks = ",".join("?" * len(event_ids))
            first = tx.one(f"SELECT min(seq) FROM outbox WHERE event_id IN ({marks})"
                           " AND status = 'pending'", tuple(event_ids))
            if first is None or first[0] is None:
                return 0
            rows = tx.conn.execute("SELECT event_id FROM outbox WHERE status = 'pending'"
                                   " AND seq >= ? ORDER BY seq", (int(first[0]),)).fetchall()
            start = int(next_seq)
            low = tx.one("SELECT min(seq) FROM outbox")
            floor = min(0, int(low[0])) if low and low[0] is not None else 0
            # an answered event still holding a number in the new range keeps its answer under
            # a negative seq (seq is UNIQUE; the server never sees it again)
            for n, row in enumerate(tx.conn.execute(
                    "SELECT event_id FROM outbox WHERE status != 'pending' AND seq >= ?"
                    " AND seq < ?", (start, start + len(rows))).fetchall()):
                tx.execute("UPDATE outbox SET seq = ? WHERE event_id = ?", (floor - 1 - n, row[0]))
            floor -= len(rows) + 1 + len(event_ids)
            for n, row in enumerate(rows):  # two steps: seq is UNIQUE
                tx.execute("UPDATE outbox SET seq = ? WHERE event_id = ?", (floor - 1 - n, row[0]))
            for n, row in enumerate(rows):
                tx.execute("UPDATE outbox SET seq = ? WHERE event_id = ?", (start + n, row[0]))
            last = start + len(rows) - 1
            tx.execute("INSERT INTO counters (name, value) VALUES ('outbox_seq', ?)"
                       " ON CONFLICT(name) DO UPDATE SET value = max(value, excluded.value)",
                       (last,))
        log.warning("%d outbox events renumbered from seq %d (their old numbers were used on"
                    " the server by other events)", len(rows), start)
        return len(rows)
