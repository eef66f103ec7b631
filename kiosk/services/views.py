"""Read models the UI shows (frozen dataclasses) and the queries that build them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kiosk.services.common import mask_card_no, mask_name
from kiosk.services.config import ServicesConfig
from library_core.ereceipts import with_ereceipt
from library_core.fees import FeeKind, days_overdue
from library_core.money import Fen
from library_core.receipts import Receipt, ReceiptKind, ReceiptLine

if TYPE_CHECKING:
    from kiosk.services.ports import Card, Reader, UnitOfWork


@dataclass(frozen=True, slots=True)
class LoanView:
    loan_id: str
    barcode: str
    title: str
    due_on: dt.date
    days_overdue: int


@dataclass(frozen=True, slots=True)
class FeeView:
    fee_id: str
    kind: str
    amount: Fen
    paid: Fen
    description: str
    created_at: str

    @property
    def due(self) -> Fen:
        return self.amount - self.paid


@dataclass(frozen=True, slots=True)
class ReaderSummary:
    """What a tapped card shows: masked identity, expiry, balance owed, open loans."""

    reader_id: str
    card_no: str
    card_no_masked: str
    name_masked: str
    id_masked: str
    phone_masked: str
    category: str
    expires_on: dt.date
    expired: bool
    generation: int
    balance_owed: Fen
    open_loans: tuple[LoanView, ...]
    open_fees: tuple[FeeView, ...]


def open_fees(uow: UnitOfWork, reader_id: str) -> list[FeeView]:
    """Open fees of a reader, oldest first."""
    return [FeeView(f.fee_id, f.kind, f.amount, f.paid, f.description, f.created_at)
            for f in uow.fees.open_of_reader(reader_id)]


def open_loans(uow: UnitOfWork, reader_id: str, today: dt.date) -> list[LoanView]:
    return [LoanView(loan.loan_id, loan.item_barcode, loan.title, loan.due_on,
                     days_overdue(loan.due_on, today))
            for loan in uow.loans.open_of_reader(reader_id)]


def summary(uow: UnitOfWork, reader: Reader, card: Card, today: dt.date) -> ReaderSummary:
    fees = open_fees(uow, reader.reader_id)
    expires = card.expires_on
    return ReaderSummary(
        reader_id=reader.reader_id, card_no=card.card_no,
        card_no_masked=mask_card_no(card.card_no), name_masked=mask_name(reader.name),
        id_masked=reader.id_masked, phone_masked=reader.phone_masked,
        category=reader.category, expires_on=expires, expired=expires < today,
        generation=card.generation, balance_owed=sum(f.due for f in fees),
        open_loans=tuple(open_loans(uow, reader.reader_id, today)), open_fees=tuple(fees),
    )


FEE_LINE_KEYS: dict[str, str] = {
    FeeKind.DEPOSIT: "receipt.item.deposit",
    FeeKind.CARD: "receipt.item.card_fee",
    FeeKind.REPLACEMENT: "receipt.item.replacement_fee",
    FeeKind.RENEWAL: "receipt.item.renewal",
    FeeKind.OVERDUE: "receipt.item.overdue_fine",
    FeeKind.LOST_ITEM: "receipt.item.lost_item",
}


def fee_line(kind: str, amount: Fen, description: str = "", **params: Any) -> ReceiptLine:
    return ReceiptLine(key=FEE_LINE_KEYS.get(kind, "receipt.item.fees_paid"), amount=amount,
                       detail=description, params=dict(params))


def reader_receipt(cfg: ServicesConfig, *, receipt_no: str, kind: ReceiptKind,
                   now: dt.datetime, reader: Reader | None,
                   card_no: str = "", lines: Sequence[ReceiptLine] = (),
                   fields: Sequence[tuple[str, str]] = (), total: Fen | None = None,
                   method: str = "", staff_no: str = "", qr_data: str = "",
                   footer_key: str = "receipt.footer.default") -> Receipt:
    """A receipt with the reader's name, ID and phone masked; with a ``[receipts]`` base URL
    its QR is its e-receipt's URL (``library_core.ereceipts``)."""
    return with_ereceipt(Receipt(
        receipt_no=receipt_no, kind=kind, kiosk_id=cfg.kiosk_id, issued_at=now,
        language=cfg.language, library_name=cfg.library_name,
        library_name_en=cfg.library_name_en,
        reader_name=mask_name(reader.name) if reader is not None else "",
        card_no_masked=mask_card_no(card_no) if card_no else "",
        id_masked=reader.id_masked if reader is not None else "",
        phone_masked=reader.phone_masked if reader is not None else "",
        fields=tuple(fields), lines=tuple(lines), total=total, payment_method=method,
        staff_no=staff_no, qr_data=qr_data, footer_key=footer_key,
    ), cfg.ereceipt_base_url)
