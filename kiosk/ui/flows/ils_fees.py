"""Fees and renewal beside a library ILS (SIP2): the reader's fines and status come from the
ILS (63/64 through ``IlsAccountService``), are paid through the kiosk's payment, then posted
to the ILS (37, our receipt number as its transaction id); the posting's fate (posted, queued,
refused and kept for staff) is one of the lines the receipt screen shows. A tapped card's
patron id at the ILS is its card number; a reader the ILS knows and we do not gives their ILS
number and PIN. Each asks the service; nothing here decides."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kiosk.ui.flows.base import FlowBase
from kiosk.ui.flows.results import Outcome, TappedCard
from library_core.money import Fen, format_fen


@dataclass(frozen=True)
class IlsPatron:
    """Who pays at the ILS: the patron id, the PIN that proved it (ILS-only readers), our
    reader id (a tapped card of ours), the account as the ILS answered."""

    patron: str
    account: Any  # kiosk.services.circulation.PatronAccount
    reader_id: str | None = None
    password: str | None = None

    @property
    def name_masked(self) -> str:
        from kiosk.services.common import mask_card_no, mask_name

        return mask_name(str(self.account.name or "")) or mask_card_no(self.patron)

    @property
    def owed(self) -> Fen:
        return int(self.account.owed)


class IlsFeeFlows(FlowBase):
    """The fee and renewal screens' calls when the kiosk works beside an ILS."""

    def has_ils(self) -> bool:
        return self.services.get("ils") is not None

    def open_ils_account(self, card: TappedCard | None = None, *, number: str = "",
                         pin: str | None = None) -> IlsPatron:
        """The patron's account at the ILS: a tapped card's (its card number), else the ILS
        number and PIN typed in. Raises SyncError (the ILS cannot answer), ValidationError."""
        svc = self._service("ils")
        if card is not None:
            return IlsPatron(card.card_no, svc.account(card.card_no), reader_id=card.reader_id)
        return IlsPatron(number, svc.account(number, password=pin or ""), password=pin or "")

    def ils_owed(self, card: TappedCard) -> Fen:
        """What the tapped card's reader owes the ILS (the renewal screen shows this)."""
        return int(self._service("ils").owed(card.card_no))

    def pay_ils_fees(self, who: IlsPatron, tender: Any, *, language: str,
                     staff: Any = None) -> Outcome:
        result = self._service("ils").pay(who.patron, tender, amount=who.owed, staff=staff,
                                          reader_id=who.reader_id, password=who.password)
        words = " / ".join(result.messages)
        lines = [("summary.paid", {"value": format_fen(int(result.amount))}),
                 (f"fees.ils_{result.posting}", {"message": words or "-"})]
        return self.print(result.receipt, language, lines)


def ils_fine_lines(who: IlsPatron) -> list[Any]:
    """The account as the fees screen lists it: each fine, then the total owed."""
    lines: list[Any] = [("fees.ils_line", {"text": f.description or f.fine_id,
                                           "amount": format_fen(int(f.amount))})
                        for f in who.account.fines if f.amount or f.description]
    lines.append(("fees.ils_owed", {"amount": format_fen(who.owed)}))
    return lines
