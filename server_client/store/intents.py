"""Payment intents: one row per attempt to take money with a payment code, committed before the
provider is called and moved on as its answers come (``kiosk.payments.lifecycle``).

States: ``open`` (committed; the provider may or may not have the trade), ``paid`` (the
provider took the money; our books do not have it yet), ``booked`` (the use case committed the
payment: final), ``reversed`` / ``failed`` (nothing taken: final), ``refunded`` (taken and given
back: final), ``refund_failed`` (taken, the refund not yet accepted: retried at start-up),
``unapplied`` (taken for an action that never happened; the payment is booked as unapplied,
its refund still due: retried). ``payment_id`` / ``refund_id``: the rows of ``payments`` the
recovery booked for it (store schema 10), each in the transaction that moved the intent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from server_client.store.connection import StoreCore
    from server_client.store.repositories import SqliteUnitOfWork

OPEN_STATES = ("open", "paid", "refund_failed", "unapplied")


@dataclass(frozen=True, slots=True)
class Intent:
    out_trade_no: str
    provider: str
    amount: int
    reference: str
    state: str
    transaction_id: str = ""
    detail: str = ""
    created_at: str = ""
    payment_id: str = ""
    refund_id: str = ""


class IntentStore:
    """Payment intents in the kiosk store; each call is its own committed transaction."""

    def __init__(self, store: StoreCore) -> None:
        self.store = store

    def next_seq(self) -> int:
        with self.store.transaction() as tx:
            return tx.next_counter("payment_intent")

    def create(self, intent: Intent, *, at: dt.datetime) -> None:
        with self.store.transaction() as tx:
            tx.insert("payment_intents", {
                "out_trade_no": intent.out_trade_no, "provider": intent.provider,
                "amount": intent.amount, "reference": intent.reference, "state": "open",
                "transaction_id": "", "detail": intent.detail,
                "created_at": at.isoformat(), "updated_at": at.isoformat()})

    def move(self, out_trade_no: str, state: str, *, at: dt.datetime, transaction_id: str = "",
             detail: str = "") -> None:
        changes: dict[str, object] = {"state": state, "updated_at": at.isoformat()}
        if transaction_id:
            changes["transaction_id"] = transaction_id
        if detail:
            changes["detail"] = detail
        with self.store.transaction() as tx:
            tx.update("payment_intents", "out_trade_no", out_trade_no, changes)

    def get(self, out_trade_no: str) -> Intent | None:
        row = self.store.read_one("SELECT * FROM payment_intents WHERE out_trade_no = ?",
                                  (out_trade_no,))
        return None if row is None else _intent(row)

    def unfinished(self) -> list[Intent]:
        rows = self.store.read(
            "SELECT * FROM payment_intents WHERE state IN (?, ?, ?, ?) ORDER BY created_at",
            OPEN_STATES)
        return [_intent(r) for r in rows]

    def all(self) -> list[Intent]:
        return [_intent(r) for r in self.store.read(
            "SELECT * FROM payment_intents ORDER BY created_at, out_trade_no")]

    @contextmanager
    def booking(self, out_trade_no: str, state: str, *, at: dt.datetime,
                **ids: str) -> Iterator[SqliteUnitOfWork]:
        """One transaction: what the caller books through the unit of work it is given (a
        payment row, its receipt, its event), then the intent moved to ``state`` with ``ids``
        (``payment_id``, ``refund_id``). Raises StoreError (nothing of it is kept)."""
        from server_client.store.repositories import SqliteUnitOfWork

        with self.store.transaction() as tx:
            yield SqliteUnitOfWork(tx)
            tx.update("payment_intents", "out_trade_no", out_trade_no,
                      {"state": state, "updated_at": at.isoformat(), **ids})

    def reader_of(self, reference: str) -> str | None:
        """The reader in our books that ``reference`` (``new-card:<reader>``,
        ``renewal:<card no>``, ...) names, or None (e.g. a new reader that was rolled back)."""
        _, _, key = reference.partition(":")
        row = self.store.read_one(
            "SELECT reader_id FROM readers WHERE reader_id = ? UNION ALL "
            "SELECT reader_id FROM cards WHERE card_no = ? LIMIT 1", (key, key))
        return None if row is None else str(row["reader_id"])

    def booked(self, transaction_id: str) -> bool:
        """Whether a payment with this provider transaction id is in the books."""
        return self.store.read_one(
            "SELECT 1 FROM payments WHERE transaction_id = ? AND kind = 'payment'",
            (transaction_id,)) is not None


def _intent(row: object) -> Intent:
    r = dict(row)  # type: ignore[call-overload]
    return Intent(r["out_trade_no"], r["provider"], int(r["amount"]), r["reference"], r["state"],
                  r["transaction_id"], r["detail"], r["created_at"], r.get("payment_id", ""),
                  r.get("refund_id", ""))
