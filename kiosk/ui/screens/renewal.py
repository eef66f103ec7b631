"""Renewal (续期): tap card, expiry and balance, period, payment, new expiry, receipt."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kivy.lang import Builder

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

    def start(self, card: Any = None, **kw: Any) -> None:
        self.steps = STEPS
        super().start(card, **kw)

    def card_tapped(self, card: Any) -> None:
        self.card = card
        if self.backend.has_ils():  # fees owed are the ILS's to say
            def got(owed: int) -> None:
                self.owed = owed
                self.goto(self.show_account, 1)

            self.work(lambda: self.backend.ils_owed(card), got)
            return
        self.goto(self.show_account, 1)

    def show_account(self) -> None:
        self.step = 1
        self.show_info(("renewal.account", {}), account_lines(self.card, self.owed), [
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
            if isinstance(err, KioskError) and err.message_id == "fees.owed_above_limit":
                self.body.clear_widgets()
                self.show_info(("renewal.refused", {}), account_lines(card, self.owed), [
                    ("home.fees", "primary", lambda: self.app.go("fees", card=card)),
                ])
            self.refuse(err)

        self.work(check, done, failed)

    def show_payment(self, quote: Any) -> None:
        self.step = 3
        lines = [*account_lines(self.card, self.owed),
                 ("renewal.new_expiry", {"value": quote.new_expires_on.isoformat()})]
        if quote.fee == 0:
            self.show_info(("summary.title", {}), lines, [("nav.next", "primary", lambda: self._paid(None))])
        else:
            self.ask_payment(quote.fee, self._paid, lines=lines)

    def _paid(self, tender: Any) -> None:
        card, months, lang, staff = self.card, self.months, self.app.lang, self.app.staff
        self.work(lambda: self.backend.renew(card, months, tender, language=lang, staff=staff),
                  lambda outcome: self.finish(outcome, "renewal.done"))
