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
from library_core.errors import KioskError
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

    def ils_renewal_refusal(self, who: IlsPatron) -> KioskError | None:
        """Why the ILS's answer refuses renewal now (the card service's rule), or None."""
        from kiosk.services.ils_account import refuse_if_renewal_denied

        try:
            refuse_if_renewal_denied(who.account)
        except KioskError as err:
            return err
        return None

    def pay_ils_fees(self, who: IlsPatron, tender: Any, *, language: str,
                     staff: Any = None) -> Outcome:
        result = self._service("ils").pay(who.patron, tender, amount=who.owed, staff=staff,
                                          reader_id=who.reader_id, password=who.password)
        words = " / ".join(result.messages)
        lines = [("summary.paid", {"value": format_fen(int(result.amount))}),
                 (f"fees.ils_{result.posting}", {"message": words or "-"})]
        return self.print(result.receipt, language, lines)


def ils_fine_lines(who: IlsPatron) -> list[Any]:
    """The account as the fees screen lists it: the ILS's blocks and words, each fine, then
    the total owed."""
    lines: list[Any] = ils_status_lines(who.account)
    lines += [("fees.ils_line", {"text": shown(f.description or f.fine_id),
                                 "amount": format_fen(int(f.amount))})
              for f in who.account.fines if f.amount or f.description]
    lines.append(("fees.ils_owed", {"amount": format_fen(who.owed)}))
    return lines


def ils_status_lines(account: Any) -> list[Any]:
    """What the ILS says of the patron (fees and renewal screens): each block or limit of its
    patron status flags in our words (``ils.flag.<name>``, both languages), then its screen
    messages (AF) and print lines (AG) as it sent them."""
    lines: list[Any] = []
    if account.flags:
        lines.append(("ils.flags_title", {}))
        lines += [(f"ils.flag.{name}", {}) for name in account.flags]
    lines += [("ils.says", {"text": shown(m)}) for m in account.screen_messages if m.strip()]
    lines += [("ils.prints", {"text": shown(m)}) for m in account.print_lines if m.strip()]
    return lines


SHOWN_MAX = 200  # characters of one line of the ILS's text on screen


def shown(text: str) -> str:
    """The ILS's text as sent, but for control characters (shown as spaces) and its length."""
    clean = "".join(" " if ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 else ch for ch in text)
    return clean.strip()[:SHOWN_MAX]
