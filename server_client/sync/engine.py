"""One sync round: push the outbox, pull change pages, push again.

Sync is push, then pull (pages until the server says there is no more). The store
(``SyncStore``) is the only state: events leave the outbox only after the server answered them,
and the pull cursor moves only after a page is stored, so a crash or kill at any moment loses
nothing and doubles nothing (the server answers ``duplicate`` for an event it already has).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from library_core.clock import Clock, SystemClock
from library_core.contract import CONTRACT_VERSION
from library_core.errors import SyncError
from server_client.sync import receipt_blocks
from server_client.sync.client import RecordServerClient
from server_client.sync.device_status import DeviceStatusSource

log = logging.getLogger(__name__)


class SyncStore(Protocol):
    """What the sync client needs from the kiosk's local store."""

    def pending_events(self, limit: int) -> list[dict[str, Any]]:
        """Envelopes waiting to be pushed: priority 1 first, then by seq."""
        ...

    def record_push_results(self, results: list[dict[str, Any]]) -> None:
        """Store the server's answer per event: {"event_id", "status", "detail"?, "rule"?}."""
        ...

    def pending_count(self) -> int: ...

    def last_sync_at(self) -> dt.datetime | None: ...

    def set_last_sync(self, when: dt.datetime) -> None: ...

    def pull_cursor(self) -> int: ...

    def apply_pulled_page(self, changes: list[dict[str, Any]], next_cursor: int, *,
                          at: dt.datetime | None = None) -> None:
        """Store one pulled page and move the cursor; a row it cannot store is set aside
        (stamped ``at``)."""
        ...

    def set_kiosk_no(self, kiosk_no: int) -> None: ...

    def raise_counters(self, floors: dict[str, int]) -> dict[str, int]: ...

    def pending_below(self, seq: int, limit: int) -> list[dict[str, Any]]: ...

    def resequence(self, event_ids: list[str], next_seq: int) -> int: ...

    def unreported_quarantine(self, limit: int = 500) -> list[dict[str, Any]]:
        """Pulled rows set aside that the server was not told about (push-body shape)."""
        ...

    def mark_quarantine_reported(self, reports: list[dict[str, Any]], *, at: dt.datetime) -> None:
        """The server took these reports."""
        ...


@dataclass(frozen=True)
class SyncReport:
    pushed: int = 0
    applied: int = 0
    duplicates: int = 0
    conflicts: int = 0
    rejected: int = 0
    pulled: int = 0


class SyncEngine:
    """One sync round at a time: push every pending event, then pull every new change."""

    def __init__(self, store: SyncStore, client: RecordServerClient, *, clock: Clock | None = None,
                 batch_size: int = 100, page_size: int = 500, max_rounds: int = 1000,
                 device_status: DeviceStatusSource | None = None) -> None:
        self.store = store
        self.device_status = device_status  # sent with the first push of each round
        self.last_error = ""  # the previous round's failure, told to the server with the status
        self.client = client
        self.clock = clock or SystemClock()
        self.batch_size = batch_size
        self.page_size = page_size
        self.max_rounds = max_rounds
        self._lock = threading.Lock()
        self.resumed = False  # resume() has run against the server since this engine began

    def push_all(self, *, with_status: bool = False) -> SyncReport:
        """Push batches until nothing is pending or the server stops taking them.

        The first push of a round also reports the pulled rows set aside since the last one
        (a push of reports alone when no event is pending); with ``with_status``, it carries
        the device status too (a push of the status alone when there is nothing else).
        """
        counts = {"applied": 0, "duplicate": 0, "conflict": 0, "rejected": 0}
        pushed = 0
        reports = self.store.unreported_quarantine()
        status = (self.device_status(self.last_error)
                  if with_status and self.device_status is not None else None)
        for _ in range(self.max_rounds):
            batch = self.store.pending_events(self.batch_size)
            if status is not None:
                body = self.client.push(batch, quarantined=reports or None,
                                        device_status=status)
                status = None
                if reports:
                    self.store.mark_quarantine_reported(reports, at=self.clock.now())
                    reports = []
                if not batch:
                    break
            elif not batch and not reports:
                break
            elif reports:
                body = self.client.push(batch, quarantined=reports)
                self.store.mark_quarantine_reported(reports, at=self.clock.now())
                log.info("reported %d pulled rows set aside", len(reports))
                reports = []
                if not batch:
                    break
            else:
                body = self.client.push(batch)
            results = body.get("results", [])
            final = [r for r in results if not _is_gap(r)]
            if final:
                self.store.record_push_results(final)
            for r in final:
                counts[r["status"]] = counts.get(r["status"], 0) + 1
            pushed += len(final)
            if not final:
                expected = body.get("next_seq")
                raise SyncError("error.sync.gap",
                                f"server waits for seq {expected}; the outbox cannot supply it")
        return SyncReport(pushed=pushed, applied=counts["applied"], duplicates=counts["duplicate"],
                          conflicts=counts["conflict"], rejected=counts["rejected"])

    def pull_all(self) -> int:
        """Pull pages until the server has no more; each page is stored before the next.

        While a page is stored, the next one is already being fetched (one helper thread, only
        when the server said there is more), so the server's work and the store's overlap. The
        cursor still moves only when a page is stored: a page fetched ahead of a store that
        failed is dropped, and the next round asks for it again.
        """
        cursor = self.store.pull_cursor()
        page = self.client.pull(cursor, self.page_size)
        pulled = 0
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sync-pull-ahead") as ahead:
            for round_no in range(1, self.max_rounds + 1):
                version = page.get("contract_version", CONTRACT_VERSION)
                if version != CONTRACT_VERSION:
                    raise SyncError("error.sync.contract", f"server speaks contract {version!r},"
                                                           f" this kiosk {CONTRACT_VERSION}")
                changes = page.get("changes", [])
                next_cursor = int(page.get("next_cursor", cursor))
                fetching: Future[dict[str, Any]] | None = None
                if page.get("more") and round_no < self.max_rounds:
                    fetching = ahead.submit(self.client.pull, next_cursor, self.page_size)
                if changes or next_cursor != cursor:
                    self.store.apply_pulled_page(changes, next_cursor, at=self.clock.now())
                pulled += len(changes)
                if fetching is None:
                    break
                cursor, page = next_cursor, fetching.result()
        return pulled

    def resume(self) -> dict[str, Any]:
        """Learn where this kiosk stands on the server and move the store forward (never back).

        For a store that was wiped or restored from an older copy: its number, counters (card
        serial, visit number, today's and recent receipt numbers, outbox seq) rise to what the
        server has seen used. Pending events numbered below the server's next seq are pushed
        as they are first: one the server already has (same event id) comes back
        ``duplicate`` and is recorded; one it has not comes back ``seq_reused`` and is not
        applied, so it gets a new seq (``Store.resequence``) and goes out with the next push.
        Returns the server's position.
        """
        with self._lock:
            return self._resume()

    def _resume(self) -> dict[str, Any]:
        position = self.client.position()
        next_seq = int(position["next_seq"])
        self.store.set_kiosk_no(int(position["kiosk_no"]))
        floors = {"card_serial": int(position["card_serial"]),
                  "visit_no": int(position["visit_no"]),
                  "outbox_seq": next_seq - 1}
        floors.update({f"receipt:{day}": int(n) for day, n in position["receipts"].items()})
        moved = self.store.raise_counters(floors)
        if moved:
            log.warning("store behind the server: counters moved forward %s",
                        {k: (v, floors[k]) for k, v in moved.items()})
        reused: list[str] = []
        for _ in range(self.max_rounds):
            stale = [e for e in self.store.pending_below(next_seq, 10 * self.batch_size)
                     if str(e["event_id"]) not in reused][: self.batch_size]
            if not stale:
                break
            results = self.client.push(stale).get("results", [])
            again = {str(r["event_id"]) for r in results
                     if r.get("status") == "rejected" and r.get("detail") == "seq_reused"}
            self.store.record_push_results([r for r in results
                                            if str(r["event_id"]) not in again])
            reused += [str(e["event_id"]) for e in stale if str(e["event_id"]) in again]
        self.store.resequence(reused, next_seq)
        # a block above the resumed counters before the first new receipt is printed
        receipt_blocks.top_up_quietly(self.store, self.client, self.clock.now().date())
        self.resumed = True
        return position

    def sync_once(self) -> SyncReport:
        """Push, pull, push again (anything made meanwhile); then note the time."""
        with self._lock:
            try:
                first = self.push_all(with_status=True)
                pulled = self.pull_all()
                second = self.push_all()
                receipt_blocks.top_up_quietly(self.store, self.client, self.clock.now().date())
            except Exception as err:
                self.last_error = str(getattr(err, "message_id", "") or err)[:200]
                raise
            self.last_error = ""
            self.store.set_last_sync(self.clock.now())
        return SyncReport(
            pushed=first.pushed + second.pushed, applied=first.applied + second.applied,
            duplicates=first.duplicates + second.duplicates,
            conflicts=first.conflicts + second.conflicts,
            rejected=first.rejected + second.rejected, pulled=pulled)


def _is_gap(result: dict[str, Any]) -> bool:
    return result.get("status") == "rejected" and str(result.get("detail", "")).startswith("gap")
