"""New reader card (办证): name, ID number, phone, category, PIN, payment, blank card, receipt."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kivy.lang import Builder

from kiosk.ui.screens.base import FlowScreen
from library_core.errors import KioskError
from library_core.identity import mask_mobile, mask_resident_id
from library_core.money import format_fen

Builder.load_file(str(Path(__file__).with_name("new_card.kv")))

STEPS = ["step.name", "step.id_number", "step.phone", "step.category", "step.pin",
         "step.payment", "step.card"]
CATEGORIES = ("adult", "student", "child", "senior")


class NewCardScreen(FlowScreen):
    def wipe(self) -> None:
        self.form: dict[str, Any] = {}
        self.quote: Any = None

    def start(self, **_kw: Any) -> None:
        self.steps = STEPS
        self.goto(self.show_name, 0)

    def show_name(self) -> None:
        self.step = 0
        self.ask_name(self._got_name, value=self.form.get("name", ""))

    def _got_name(self, name: str) -> None:
        self.form["name"] = name
        self.goto(self.show_id, 1)

    def show_id(self) -> None:
        self.step = 1
        self.ask_digits("field.id_number", mode="id", max_len=18, min_len=18, on_ok=self._got_id)

    def _got_id(self, value: str) -> None:
        def check() -> Any:
            return self.backend.check_new_reader(value)

        def done(_r: Any) -> None:
            self.form["id_number"] = value
            self.goto(self.show_phone, 2)

        def failed(err: BaseException) -> None:
            if isinstance(err, KioskError) and err.message_id == "reader.exists_with_live_card":
                self.goto(self.show_exists)
            else:
                self.refuse(err)

        self.work(check, done, failed)

    def show_exists(self) -> None:
        self.show_info(("newcard.exists", {}), [("newcard.exists_hint", {})], [
            ("home.renewal", "primary", lambda: self.app.go("renewal")),
            ("home.replacement", "primary", lambda: self.app.go("replacement")),
        ])

    def show_phone(self) -> None:
        self.step = 2
        self.ask_phone(self.form, self.show_category, 3)

    def show_category(self) -> None:
        self.step = 3
        options = []
        for cat in CATEGORIES:
            fee, deposit = self.backend.new_card_prices(cat)
            options.append((("category.option", {
                "category_key": f"category.{cat}", "fee": format_fen(fee),
                "deposit": format_fen(deposit)}), cat))
        self.ask_choice(("field.category", {}), options, self._got_category)

    def _got_category(self, cat: str) -> None:
        self.form["category"] = cat
        self.goto(self.show_pin, 4)

    def show_pin(self) -> None:
        self.step = 4
        self.form.pop("pin", None)
        self.ask_digits("field.pin_new", mode="pin", max_len=6, min_len=6, on_ok=self._got_pin,
                        hint=("field.pin_hint", {}))

    def _got_pin(self, pin: str) -> None:
        from library_core.pins import validate_pin

        try:
            validate_pin(pin)
        except KioskError as err:
            self.entry.value = ""
            self.refuse(err)
            return
        self.form["pin"] = pin
        self.goto(self.show_pin_again, 4)

    def show_pin_again(self) -> None:
        self.step = 4
        self.ask_digits("field.pin_again", mode="pin", max_len=6, min_len=6, on_ok=self._got_pin2)

    def _got_pin2(self, pin: str) -> None:
        if pin != self.form.get("pin"):
            self.goto(self.show_pin, 4, remember=False)
            self.refuse("pin.mismatch")
            return
        self.goto(self.show_payment, 5)

    def show_payment(self) -> None:
        self.step = 5
        fee, deposit = self.backend.new_card_prices(self.form["category"])
        total = fee + deposit
        lines = [
            ("summary.name", {"value": self.form["name"]}),
            ("summary.id_number", {"value": mask_resident_id(self.form["id_number"])}),
            ("summary.phone", {"value": mask_mobile(self.form["phone"])}),
            ("summary.fee_deposit", {"fee": format_fen(fee), "deposit": format_fen(deposit)}),
        ]
        if total == 0:
            self.show_info(("summary.title", {}), lines,
                           [("nav.next", "primary", lambda: self._paid(None))])
        else:
            self.ask_payment(total, self._paid, lines=lines)

    def _paid(self, tender: Any) -> None:
        self.form["tender"] = tender
        self.goto(self.show_card, 6)

    def show_card(self) -> None:
        self.step = 6
        self.wait_for_blank_card(self._card_placed)

    def _card_placed(self, _event: Any) -> None:
        form = dict(self.form)
        lang = self.app.lang
        staff = self.app.staff
        self.work(lambda: self.backend.issue_card(form, language=lang, staff=staff),
                  lambda outcome: self.finish(outcome, "newcard.done"))
