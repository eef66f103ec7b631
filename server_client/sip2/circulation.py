"""``Sip2Circulation``: the ``kiosk.services.circulation.Circulation`` port over SIP2 (the
client's typed answers made the port's dataclasses; the ILS's amounts made integer fen)."""

from __future__ import annotations

import datetime as dt
import logging

from kiosk.services.circulation import (
    CheckinAnswer,
    IlsFine,
    LinkState,
    PatronAccount,
    Posting,
    patron_flags,
)
from library_core.money import Fen
from server_client.sip2.client import Sip2Client

log = logging.getLogger(__name__)

FINE_ITEMS = "   Y      "  # patron information summary: position 4, fine items
CHARGED_ITEMS = "  Y       "  # position 3, charged items


def fen_of(amount: str | None) -> Fen:
    """An ILS amount (``"12.5"``, ``"12.50"``, ``"-3.00"``) as integer fen; unreadable: 0."""
    text = (amount or "").strip()
    if not text:
        return 0
    sign = -1 if text.startswith("-") else 1
    yuan, _, cents = text.lstrip("+-").partition(".")
    if not yuan.isdigit() and yuan != "" or not (cents == "" or cents.isdigit()):
        log.warning("unreadable ILS amount %r taken as 0", amount)
        return 0
    return sign * (int(yuan or "0") * 100 + int((cents + "00")[:2]))


def parse_fine_item(text: str) -> IlsFine:
    """A fine item (AV) as ILSs commonly send it: ``<id> <amount> <description>``; anything
    else is kept whole as the description (amount 0: the total comes from BV)."""
    parts = text.split(" ", 2)
    if len(parts) >= 2 and fen_of(parts[1]) > 0:
        return IlsFine(parts[0], fen_of(parts[1]), parts[2] if len(parts) > 2 else "")
    return IlsFine("", 0, text)


class Sip2Circulation:
    """See the module docstring. Raises what the client raises (SyncError kinds)."""

    def __init__(self, client: Sip2Client, *, hold_bins: tuple[str, ...] = ("HOLD",)) -> None:
        self.client = client
        self.hold_bins = hold_bins

    def check_in(self, item: str, *, returned_at: dt.datetime | None = None) -> CheckinAnswer:
        r = self.client.checkin(item, returned_at=returned_at)
        sort_bin = r.sort_bin or ""
        # a hold: a waiting patron named (AA) on an alert, or a sort bin the library uses for it
        hold = r.ok == "1" and ((r.alert == "Y" and bool(r.patron_identifier))
                                or sort_bin in self.hold_bins)
        # positional (ok, item, title, alert, sort_bin, hold, screen_messages, print_lines):
        # the hot path of every return; pysip2's models hold tuples already
        return CheckinAnswer(r.ok == "1", item, r.title_identifier or "", r.alert == "Y",
                             sort_bin, hold, r.screen_message, r.print_line)

    def account(self, patron: str, *, password: str | None = None) -> PatronAccount:
        info = self.client.patron_information(patron, summary=FINE_ITEMS, password=password)
        charged = self.client.patron_information(patron, summary=CHARGED_ITEMS).charged_items
        checked = info.valid_patron_password
        return PatronAccount(
            patron_id=patron, name=info.personal_name, valid=info.valid_patron != "N",
            blocked="Y" in info.patron_status[:4], owed=fen_of(info.fee_amount),
            fines=tuple(parse_fine_item(f) for f in info.fine_items),
            charged_items=tuple(charged), screen_messages=tuple(info.screen_message),
            password_ok=None if password is None else checked == "Y",
            flags=patron_flags(info.patron_status), print_lines=tuple(info.print_line))

    def fee_paid(self, patron: str, amount: Fen, *, transaction_id: str,
                 fee_id: str | None = None) -> Posting:
        r = self.client.fee_paid(patron, amount, transaction_id=transaction_id, fee_id=fee_id)
        return Posting(r.payment_accepted == "Y", tuple(r.screen_message))

    def block_patron(self, patron: str, message: str) -> Posting:
        r = self.client.block_patron(patron, message)
        return Posting(r.patron_identifier == patron, tuple(r.screen_message))

    def renew(self, patron: str, item: str) -> Posting:
        r = self.client.renew(patron, item)
        return Posting(r.ok == "1", tuple(r.screen_message), due=r.due_date if r.ok == "1" else "")

    def end_session(self, patron: str) -> None:
        self.client.end_session(patron)

    def link(self) -> LinkState:
        k = self.client.link()
        return LinkState(k.up, k.last_error, k.last_error_detail, k.last_error_at)
