"""The receipt journal: every receipt a use case made, and its last print result."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

from library_core.clock import Clock
from library_core.errors import StoreError
from library_core.receipts import Receipt
from server_client.store.connection import StoreCore


class JournalStore(StoreCore):
    """The journal part of ``Store``."""

    def receipts(self, day: dt.date) -> list[Receipt]:
        rows = self.read("SELECT body FROM receipts WHERE day = ? ORDER BY issued_at, receipt_no",
                         (day.isoformat(),))
        return [Receipt.from_json(r[0]) for r in rows]

    def receipt(self, receipt_no: str) -> Receipt | None:
        row = self.read_one("SELECT body FROM receipts WHERE receipt_no = ?", (receipt_no,))
        return None if row is None else Receipt.from_json(row[0])

    def receipt_print_status(self, receipt_no: str) -> tuple[str, str] | None:
        row = self.read_one("SELECT print_status, print_message_id FROM receipts"
                            " WHERE receipt_no = ?", (receipt_no,))
        return None if row is None else (str(row[0]), str(row[1]))

    def mark_printed(self, receipt_no: str, ok: bool, message_id: str = "", *,
                     at: dt.datetime) -> None:
        """Record a print attempt at ``at`` (the caller's clock), after the receipt's own commit.

        A failed attempt keeps the printer's reason (``message_id``); a later good one (a reprint)
        makes the receipt printed. Raises StoreError for an unknown receipt number.
        """
        with self.transaction() as tx:
            n = tx.update("receipts", "receipt_no", receipt_no, {
                "print_status": "printed" if ok else "failed", "print_message_id": message_id,
                "printed_at": at.isoformat() if ok else None,
            })
            if n == 0:
                raise StoreError("error.store", f"no receipt {receipt_no}")

    def unprinted(self) -> list[Receipt]:
        rows = self.read("SELECT body FROM receipts WHERE print_status != 'printed'"
                         " ORDER BY issued_at, receipt_no")
        return [Receipt.from_json(r[0]) for r in rows]

    def journal_entries(self, *, unprinted_only: bool = False,
                        limit: int = 50) -> list[JournalEntry]:
        """Receipts for the staff reprint list: unprinted ones (failed, pending) first, oldest
        first; then, unless ``unprinted_only``, the latest printed ones, newest first."""
        cols = ("SELECT receipt_no, kind, issued_at, print_status, print_message_id"
                " FROM receipts")
        rows = self.read(f"{cols} WHERE print_status != 'printed'"
                         " ORDER BY issued_at, receipt_no LIMIT ?", (limit,))
        if not unprinted_only and len(rows) < limit:
            rows += self.read(f"{cols} WHERE print_status = 'printed'"
                              " ORDER BY issued_at DESC, receipt_no DESC LIMIT ?",
                              (limit - len(rows),))
        return [JournalEntry(str(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]))
                for r in rows]


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One receipt in the journal and its last print result (``pending``/``printed``/``failed``)."""

    receipt_no: str
    kind: str
    issued_at: str
    print_status: str
    message_id: str

    @property
    def printed(self) -> bool:
        return self.print_status == "printed"


class StoreReceiptJournal:
    """``devices.printer.ReceiptJournal`` over the store: each print result is recorded on the
    receipt's journal row, stamped by the injected clock."""

    def __init__(self, store: JournalStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def record_print(self, receipt: Receipt, result: PrintResultLike) -> None:
        """Raises StoreError when the receipt is not in the journal."""
        self.store.mark_printed(receipt.receipt_no, bool(result.ok),
                                "" if result.ok else (result.message_id or "printer.error"),
                                at=self.clock.now())


class PrintResultLike(Protocol):
    """What the journal reads from ``devices.printer.PrintResult``."""

    @property
    def ok(self) -> bool: ...

    @property
    def message_id(self) -> str: ...
