"""Renewal (续期): tap card, expiry and balance, period, payment, new expiry, receipt."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kivy.lang import Builder

from kiosk.ui.flows.ils_fees import ils_status_lines
from kiosk.ui.screens.base import CardFlowScreen
from library_core.errors import KioskError
from library_core.money import format_fen

Builder.load_file(str(Path(__file__).with_name("renewal.kv")))

STEPS = ["step.tap_card", "step.account", "step.period", "step.payment"]


def account_lines(card: Any, owed: int | None = None) -> list[Any]:
    """``owed``: what the reader owes the library's ILS, when there is one (else our store's)."""
    return [
        ("summary.name", {"value": card.name_masked}),
        ("summary.card_no", {"value": card.card_no_masked}),
        ("summary.expires", {"value": card.expires_on.isoformat()}),
        ("summary.owed", {"value": format_fen(card.owed if owed is None else owed)}),
    ]


class RenewalScreen(CardFlowScreen):
    def wipe(self) -> None:
        self.card: Any = None
        self.months = 0
        self.owed: int | None = None  # owed at the ILS (None: no ILS, our store's)
        self.ils_patron: Any = None  # the reader's account at the ILS (its blocks and words)

    def start(self, card: Any = None, **kw: Any) -> None:
        self.steps = STEPS
        super().start(card, **kw)

    def card_tapped(self, card: Any) -> None:
        self.card = card
        if self.backend.has_ils():  # fees owed, blocks and messages are the ILS's to say
            def got(who: Any) -> None:
                self.ils_patron, self.owed = who, who.owed
                self.goto(self.show_account, 1)

            self.work(lambda: self.backend.open_ils_account(card), got)
            return
        self.goto(self.show_account, 1)

    def lines(self) -> list[Any]:
        """The account, and what the ILS says of the reader when there is one."""
        who = self.ils_patron
        return [*account_lines(self.card, self.owed),
                *(ils_status_lines(who.account) if who is not None else [])]

    def show_account(self) -> None:
        self.step = 1
        refusal = self.backend.ils_renewal_refusal(self.ils_patron) if self.ils_patron else None
        if refusal is not None:  # the ILS denies renewal: said at once, the fees the way on
            self.show_info(("renewal.refused", {}), self.lines(), [
                ("home.fees", "primary", lambda: self.app.go("fees", card=self.card))])
            self.refuse(refusal)
            return
        self.show_info(("renewal.account", {}), self.lines(), [
            ("home.fees", "neutral", lambda: self.app.go("fees", card=self.card)),
            ("renewal.renew", "primary", lambda: self.goto(self.show_period, 2)),
        ])

    def show_period(self) -> None:
        self.step = 2
        options = []
        for months in self.backend.renewal_periods():
            fee = self.backend.renewal_fee(months)
            options.append((("renewal.period_option", {"months": months, "fee": format_fen(fee)}), months))
        self.ask_choice(("renewal.choose_period", {}), options, self._got_period, cols=3)

    def _got_period(self, months: int) -> None:
        card = self.card

        def check() -> Any:
            return self.backend.check_renewal(card, months)

        def done(quote: Any) -> None:
            self.months = months
            self.goto(lambda: self.show_payment(quote), 3)

        def failed(err: BaseException) -> None:
            if isinstance(err, KioskError) and err.message_id in ("fees.owed_above_limit",
                                                                   "ils.renewal_denied"):
                self.body.clear_widgets()
                self.show_info(("renewal.refused", {}), self.lines(), [
                    ("home.fees", "primary", lambda: self.app.go("fees", card=card)),
                ])
            self.refuse(err)

        self.work(check, done, failed)

    def show_payment(self, quote: Any) -> None:
        self.step = 3
        lines = [*self.lines(),
                 ("renewal.new_expiry", {"value": quote.new_expires_on.isoformat()})]
        if quote.fee == 0:
            self.show_info(("summary.title", {}), lines, [("nav.next", "primary", lambda: self._paid(None))])
        else:
            self.ask_payment(quote.fee, self._paid, lines=lines)

    def _paid(self, tender: Any) -> None:
        card, months, lang, staff = self.card, self.months, self.app.lang, self.app.staff
        self.work(lambda: self.backend.renew(card, months, tender, language=lang, staff=staff),
                  lambda outcome: self.finish(outcome, "renewal.done"))
