"""Replacement of a lost card (补卡/挂失): the resident ID card on the reader (the ID number typed
in staff mode only) + PIN, old card blocked at once, payment, new card written with a higher
generation, receipt."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kivy.lang import Builder

from kiosk.ui.screens.id_card_step import IdCardStepScreen
from library_core.money import format_fen

Builder.load_file(str(Path(__file__).with_name("replacement.kv")))

STEPS = ["step.id_card", "step.pin", "step.payment", "step.card"]
TYPED_STEPS = ["step.id_number", *STEPS[1:]]


class ReplacementScreen(IdCardStepScreen):
    def wipe(self) -> None:
        self.id_number = ""
        self.reader: Any = None
        self.tender: Any = None

    def start(self, **_kw: Any) -> None:
        self.steps = STEPS
        self.goto(self.show_id_card, 0)

    def show_id_card(self) -> None:
        self.steps = STEPS
        self.step = 0
        self.wait_for_id_card(self._got_card, hint="idcard.replace_hint",
                              on_type=self._type_by_hand)

    def _got_card(self, card: Any) -> None:
        self.work(lambda: self.backend.id_card_identity(card).id_number, self._got_id)

    def _type_by_hand(self) -> None:
        if self.app.staff is None:  # never for self-service
            return
        self.steps = TYPED_STEPS
        self.goto(self.show_id, 0)

    def show_id(self) -> None:
        self.step = 0
        self.ask_digits("field.id_number", mode="id", max_len=18, min_len=18, on_ok=self._got_id)

    def _got_id(self, value: str) -> None:
        self.id_number = value
        self.goto(self.show_pin, 1)

    def show_pin(self) -> None:
        self.step = 1
        self.ask_digits("field.pin", mode="pin", max_len=6, min_len=6, on_ok=self._got_pin)

    def _got_pin(self, pin: str) -> None:
        id_number, staff = self.id_number, self.app.staff

        def done(reader: Any) -> None:
            self.reader = reader
            self.goto(self.show_payment, 2)

        self.work(lambda: self.backend.report_lost(id_number, pin, staff=staff), done)

    def show_payment(self) -> None:
        self.step = 2
        fee = self.backend.replacement_fee()
        lines = [("replace.blocked", {"card_no": self.reader.card_no_masked}),
                 ("summary.name", {"value": self.reader.name_masked}),
                 ("replace.fee", {"fee": format_fen(fee)})]
        if fee == 0:
            self.show_info(("summary.title", {}), lines, [("nav.next", "primary", lambda: self._paid(None))])
        else:
            self.ask_payment(fee, self._paid, lines=lines)
        self.can_back = False  # the old card is blocked: there is no going back to the PIN

    def _paid(self, tender: Any) -> None:
        self.tender = tender
        self.goto(self.show_card, 3)

    def show_card(self) -> None:
        self.step = 3
        self.can_back = True
        self.wait_for_blank_card(self._card_placed)

    def reset(self) -> None:
        super().reset()
        self.can_back = True

    def _card_placed(self, _event: Any) -> None:
        reader, tender, lang, staff = self.reader, self.tender, self.app.lang, self.app.staff
        self.work(lambda: self.backend.replace_card(reader, tender, language=lang, staff=staff),
                  lambda outcome: self.finish(outcome, "replace.done"))
