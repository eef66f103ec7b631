"""The outbox (events waiting for the server, and its answers) and the sync bookkeeping (pull
cursor, last good sync). Events are written by ``Tx.emit``, checked against the contract."""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from server_client.store.connection import StoreCore

log = logging.getLogger(__name__)

PUSH_STATUSES = frozenset({"applied", "duplicate", "conflict", "rejected"})
CURSOR_KEY = "pull_cursor"
LAST_SYNC_KEY = "last_sync_at"


class OutboxStore(StoreCore):
    """The outbox and cursor part of ``Store``."""

    def pending_events(self, limit: int) -> list[dict[str, Any]]:
        """Pending outbox envelopes, priority 1 first, then by seq."""
        rows = self.read(
            "SELECT event_id, seq, kind, occurred_at, priority, contract_version, payload"
            " FROM outbox"
            " WHERE status = 'pending' ORDER BY priority DESC, seq LIMIT ?", (limit,))
        return [{
            "event_id": r["event_id"], "kiosk_id": self.kiosk_id, "seq": r["seq"],
            "kind": r["kind"], "occurred_at": r["occurred_at"], "priority": r["priority"],
            "contract_version": r["contract_version"], "payload": json.loads(r["payload"]),
        } for r in rows]

    def record_push_results(self, results: list[dict[str, Any]]) -> None:
        """Store the server's answer per event; every non-pending status leaves the queue."""
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
