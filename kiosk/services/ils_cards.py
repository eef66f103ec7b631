"""Reader cards beside an ILS: cards are still issued and renewed by us (SIP2 cannot create
patrons), and a card reported lost here is also blocked at the ILS (01, patron id = our card
number; queued when the ILS cannot answer). A renewal checks the fees the reader owes at the
ILS (its fines), not our store's: the ILS holds them; it is refused while the ILS denies the
reader renewal privileges (``ils_account.IlsRenewalDenied``)."""

from __future__ import annotations

import dataclasses
import datetime as dt

from kiosk.services.cards import CardService
from kiosk.services.cards.replacement import ReaderAuth
from kiosk.services.common import StaffSession
from kiosk.services.ils_account import IlsAccountService, refuse_if_renewal_denied
from kiosk.services.views import ReaderSummary
from library_core.fees import FeeSchedule
from library_core.rules import RenewalTerms


class IlsCardService(CardService):
    """``CardService`` whose report-lost (and so replacement) also blocks the patron at the ILS,
    and whose renewal quote and renewal weigh what the reader owes the ILS. Raises SyncError
    from a renewal while the ILS cannot say what is owed (to the desk)."""

    ils_account: IlsAccountService | None = None

    def report_lost(self, auth: ReaderAuth, *, staff: StaffSession | None = None) -> list[str]:
        blocked = super().report_lost(auth, staff=staff)
        if self.ils_account is not None and blocked:
            self.ils_account.block_lost(blocked)
        return blocked

    def _renewal_terms(self, schedule: FeeSchedule, card: ReaderSummary,  # type: ignore[override]
                       months: int, today: dt.date) -> RenewalTerms:
        if self.ils_account is not None:
            account = self.ils_account.account(card.card_no)  # one 63/64 for both checks
            refuse_if_renewal_denied(account)
            card = dataclasses.replace(card, balance_owed=account.owed)
        return CardService._renewal_terms(schedule, card, months, today)

