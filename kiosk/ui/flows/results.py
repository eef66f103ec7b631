"""What the UI backend hands the screens: a finished transaction (receipt, printed or not), a
tapped card, the lines of a returns session, a renewal quote, a lost-card report."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from library_core.errors import KioskError
from library_core.money import Fen
from library_core.receipts import Receipt


class NotAvailable(KioskError):
    message_id = "ui.not_available"


@dataclass(frozen=True)
class Outcome:
    """A finished transaction: its receipt, whether it printed, what the screen lists."""

    receipt: Receipt
    printed: bool
    print_error_key: str = ""
    lines: tuple[Any, ...] = ()

    @property
    def qr_text(self) -> str:
        return self.receipt.qr


@dataclass
class TappedCard:
    """A card identified on the reader: the services' ReaderSummary plus the raw token."""

    summary: Any
    uid: bytes
    raw: bytes

    def __getattr__(self, name: str) -> Any:
        return getattr(self.summary, name)

    @property
    def owed(self) -> Fen:
        return int(self.summary.balance_owed)


@dataclass
class ReturnLine:
    barcode: str
    title: str
    status: str  # ok | overdue | hold | unknown | not_on_loan | duplicate | queued | ils_unreachable | ils_refused
    fine: Fen = 0
    message: str = ""  # the ILS's screen messages (SIP2)


@dataclass
class ReturnSession:
    lines: list[ReturnLine] = field(default_factory=list)
    service_session: Any = None


@dataclass(frozen=True)
class RenewalQuote:
    months: int
    fee: Fen
    new_expires_on: Any



@dataclass
class LostReport:
    """The reader who proved who they are, and the cards just blocked."""

    auth: Any
    blocked: list[str]

    @property
    def name_masked(self) -> str:
        return str(self.auth.name_masked)

    @property
    def card_no_masked(self) -> str:
        from kiosk.services.common import mask_card_no

        return ", ".join(mask_card_no(c) for c in self.blocked) or "-"
