"""The fees screen's steps beside a library ILS (``FeesScreen`` uses them when the kiosk has
one): the tap step also offers "ILS number and PIN" for a reader the ILS knows and we do not;
the reader's fines as the ILS lists them, with its blocks, screen messages and print lines; pay all of them, then the receipt with the ILS's
answer to the posting (37)."""

from __future__ import annotations

from typing import Any

from kiosk.ui.flows.ils_fees import IlsPatron, ils_fine_lines, ils_status_lines

MAX_NUMBER = 20  # ILS patron numbers are barcodes: digits, at most this long
MIN_NUMBER = 4


class IlsFeeSteps:
    """Mixed into ``FeesScreen`` (a ``CardFlowScreen``: ``show_info``, ``ask_digits``,
    ``ask_payment``, ``work``, ``goto`` are its own)."""

    ils_patron: IlsPatron | None = None

    def show_ils_tap(self) -> None:
        self.step = 0
        self.show_info(("card.tap", {}), [("card.tap_hint", {})],
                       [("fees.ils_number", "neutral",
                         lambda: self.goto(self.ask_ils_number, 0))])
        self.waiting_for = "card"

    def ask_ils_number(self) -> None:
        def got_number(number: str) -> None:
            self.goto(lambda: self.ask_ils_pin(number), 0)

        self.ask_digits("field.ils_number", mode="plain", max_len=MAX_NUMBER,
                        min_len=MIN_NUMBER, on_ok=got_number)

    def ask_ils_pin(self, number: str) -> None:
        def got_pin(pin: str) -> None:
            self.work(lambda: self.backend.open_ils_account(number=number, pin=pin),
                      self._got_ils_account)

        self.ask_digits("field.ils_pin", mode="pin", max_len=8, min_len=4,
                        on_ok=got_pin)

    def ils_card_tapped(self, card: Any) -> None:
        self.work(lambda: self.backend.open_ils_account(card), self._got_ils_account)

    def _got_ils_account(self, who: IlsPatron) -> None:
        self.ils_patron = who
        self.goto(self.show_ils_fees, 1)

    def show_ils_fees(self) -> None:
        self.step = 1
        who = self.ils_patron
        assert who is not None
        if who.owed <= 0:
            self.show_info(("fees.ils_title", {"name": who.name_masked}),
                           [*ils_status_lines(who.account), ("fees.none", {})])
            return
        self.show_info(("fees.ils_title", {"name": who.name_masked}), ils_fine_lines(who),
                       [("fees.ils_pay_all", "ok",
                         lambda: self.goto(lambda: self.ask_payment(
                             who.owed, self._ils_paid), 2))])

    def _ils_paid(self, tender: Any) -> None:
        who, lang, staff = self.ils_patron, self.app.lang, self.app.staff
        assert who is not None
        self.work(lambda: self.backend.pay_ils_fees(who, tender, language=lang, staff=staff),
                  lambda outcome: self.finish(outcome, "fees.done"))
