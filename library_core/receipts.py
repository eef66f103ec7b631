"""Receipt documents: structured data, stored in the receipt journal, laid out by the printer.

A ``Receipt`` holds data, not finished text: labels are message ids (``receipt.total``) that the
layout translates into the reader's language; titles and names are printed as they are. A value
that has a name per language but no message id (a host department from config) is a
``Localized`` mapping ``{"zh_CN": ..., "en": ...}``; the layout picks the receipt's language.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from library_core.money import Fen

Localized = dict[str, str]  # language -> text, e.g. {"zh_CN": "阅览室", "en": "Reading room"}
FieldValue = str | Localized  # a message id, text printed as it is, or a Localized name


def localized_text(value: FieldValue, language: str) -> str:
    """``value`` in ``language``: a Localized mapping picks its language (zh_CN, then any)."""
    if isinstance(value, str):
        return value
    return value.get(language) or value.get("zh_CN") or next(iter(value.values()), "")


class ReceiptKind(enum.StrEnum):
    NEW_CARD = "new_card"
    RENEWAL = "renewal"
    REPLACEMENT = "replacement"
    PAYMENT = "payment"
    RETURNS = "returns"
    VISITOR_PASS = "visitor_pass"
    END_OF_DAY = "end_of_day"
    REFUND = "refund"
    ROSTER = "roster"


@dataclass(frozen=True, slots=True)
class ReceiptLine:
    """One line: ``text`` as printed (a title, a name) or ``key`` (a message id to translate),
    with an ``amount`` (fen, printed as money) or a ``quantity`` (a count) flush right.
    ``params`` fill the message's fields: integer ``amount`` / ``*_fen`` are money, a
    ``method`` is a payment method code, a Localized mapping is picked by language."""

    text: str = ""
    key: str = ""
    amount: Fen | None = None
    quantity: int | None = None
    detail: str = ""
    detail_key: str = ""
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Receipt:
    receipt_no: str
    kind: ReceiptKind
    kiosk_id: str
    issued_at: dt.datetime
    language: str = "zh_CN"
    library_name: str = ""  # in Chinese; see ``library_name_for``
    library_name_en: str = ""
    reader_name: str = ""
    card_no_masked: str = ""
    id_masked: str = ""
    phone_masked: str = ""
    fields: tuple[tuple[str, FieldValue], ...] = ()
    lines: tuple[ReceiptLine, ...] = ()
    total: Fen | None = None
    payment_method: str = ""
    staff_no: str = ""
    qr_data: str = ""
    footer_key: str = ""
    reprint: bool = False  # a copy printed again from the journal: marked on paper
    ereceipt_token: str = ""  # the e-receipt's token (library_core.ereceipts); qr_data is its URL

    @property
    def qr(self) -> str:
        return self.qr_data or self.receipt_no

    def library_name_for(self, language: str) -> str:
        """The library's name in ``language`` (English falls back to the Chinese name)."""
        if language == "en" and self.library_name_en:
            return self.library_name_en
        return self.library_name

    def to_json(self) -> str:
        data = asdict(self)
        data["issued_at"] = self.issued_at.isoformat()
        data["kind"] = str(self.kind)
        return json.dumps(data, ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Receipt:
        data = json.loads(text)
        data["issued_at"] = dt.datetime.fromisoformat(data["issued_at"])
        data["kind"] = ReceiptKind(data["kind"])
        data["fields"] = tuple(tuple(f) for f in data["fields"])
        data["lines"] = tuple(ReceiptLine(**line) for line in data["lines"])
        data.setdefault("reprint", False)  # journal bodies written before the field existed
        data.setdefault("ereceipt_token", "")
        return cls(**data)
