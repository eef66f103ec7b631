"""Reader cards beside an ILS: cards are still issued and renewed by us (SIP2 cannot create
patrons), and a card reported lost here is also blocked at the ILS (01, patron id = our card
number; queued when the ILS cannot answer)."""

from __future__ import annotations

from kiosk.services.cards import CardService
from kiosk.services.cards.replacement import ReaderAuth
from kiosk.services.common import StaffSession
from kiosk.services.ils_account import IlsAccountService


class IlsCardService(CardService):
    """``CardService`` whose report-lost (and so replacement) also blocks the patron at the ILS."""

    ils_account: IlsAccountService | None = None

    def report_lost(self, auth: ReaderAuth, *, staff: StaffSession | None = None) -> list[str]:
        blocked = super().report_lost(auth, staff=staff)
        if self.ils_account is not None and blocked:
            self.ils_account.block_lost(blocked)
        return blocked
