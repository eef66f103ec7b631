"""New reader card (办证): the resident ID card on the reader (name, ID number and birth date
filled in and locked; an expired card refused), category (child and senior follow from the age),
a guardian's phone under 14, phone, PIN, payment, blank card, receipt. Typing the name and ID
number by hand is for staff mode only (a reader without their ID card at the desk)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kivy.lang import Builder

from kiosk.ui.screens.id_card_step import IdCardStepScreen
from library_core.errors import KioskError
from library_core.identity import mask_mobile, mask_resident_id
from library_core.money import format_fen

Builder.load_file(str(Path(__file__).with_name("new_card.kv")))

CARD_STEPS = ["step.id_card", "step.category", "step.phone", "step.pin", "step.payment",
              "step.card"]
TYPED_STEPS = ["step.name", "step.id_number", *CARD_STEPS[1:]]
GUARDIAN_STEP = "step.guardian"  # before the phone, for a reader under 14
CATEGORIES = ("adult", "student", "child", "senior")


def with_guardian(steps: list[str], needed: bool) -> list[str]:
    out = [s for s in steps if s != GUARDIAN_STEP]
    if needed:
        out.insert(out.index("step.phone"), GUARDIAN_STEP)
    return out


class NewCardScreen(IdCardStepScreen):
    def wipe(self) -> None:
        self.form: dict[str, Any] = {}
        self.identity: Any = None
        self.quote: Any = None

    def at(self, step: str) -> int:
        return list(self.steps).index(step)

    def start(self, **_kw: Any) -> None:
        self.steps = list(CARD_STEPS)
        self.goto(self.show_id_card, 0)

    # ---- identity: the ID card, or (staff mode) typed ------------------------------------------
    def show_id_card(self) -> None:
        self.steps = list(CARD_STEPS)
        self.step = 0
        self.wait_for_id_card(self._got_card, on_type=self._type_by_hand)

    def _got_card(self, card: Any) -> None:
        self._identify(lambda: self.backend.id_card_identity(card))

    def _type_by_hand(self) -> None:
        if self.app.staff is None:  # never for self-service
            return
        self.steps = list(TYPED_STEPS)
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
        name = self.form["name"]
        self._identify(lambda: self.backend.typed_identity(name, value))

    def _identify(self, identify: Any) -> None:
        """Check the identity (card validity, ID number) and that the person has no live card
        yet (the card service's rule); a live card offers renewal or replacement."""
        def check() -> Any:
            identity = identify()
            self.backend.check_new_reader(identity.id_number)
            return identity

        def failed(err: BaseException) -> None:
            if isinstance(err, KioskError) and err.message_id == "reader.exists_with_live_card":
                self.goto(self.show_exists)
                self.app.prompt("newcard.exists")
            else:
                self.refuse(err)

        self.work(check, self._identified, failed)

    def _identified(self, identity: Any) -> None:
        self.identity = identity
        self.form.update(name=identity.name, id_number=identity.id_number)
        self.form.pop("guardian_phone", None)
        self.steps = with_guardian(list(self.steps), identity.guardian_needed)
        self.goto(self.show_identity, self.at("step.category") - 1)

    def show_identity(self) -> None:
        """The details from the ID card, shown locked (nothing on this step edits them)."""
        ident = self.identity
        self.step = self.at("step.category") - 1
        lines: list[Any] = [
            ("summary.name", {"value": ident.name}),
            ("summary.id_number", {"value": mask_resident_id(ident.id_number)}),
            ("summary.birth_date", {"value": ident.birth_date.isoformat()}),
        ]
        if len(ident.categories) == 1:
            lines.append(("idcard.category_by_age", {"category_key": f"category.{ident.categories[0]}"}))
        if ident.guardian_needed and not self.app.senior:  # senior mode: fewer lines; the
            lines.append(("guardian.hint", {}))  # guardian's step says it again anyway
        lines.append(("idcard.locked" if ident.from_card else "idcard.typed", {}))
        self.show_info(("idcard.confirm_title", {}), lines,
                       [("nav.next", "primary", self._identity_ok)])

    def _identity_ok(self) -> None:
        cats = self.identity.categories
        if len(cats) == 1:  # follows from the age: no choice to make
            self._got_category(cats[0])
        else:
            self.goto(self.show_category, self.at("step.category"))

    def show_exists(self) -> None:
        self.show_info(("newcard.exists", {}), [("newcard.exists_hint", {})], [
            ("home.renewal", "primary", lambda: self.app.go("renewal")),
            ("home.replacement", "primary", lambda: self.app.go("replacement")),
        ])

    # ---- category, guardian, phone ---------------------------------------------------------------
    def show_category(self) -> None:
        self.step = self.at("step.category")
        options = []
        for cat in self.identity.categories if self.identity else CATEGORIES:
            fee, deposit = self.backend.new_card_prices(cat)
            options.append((("category.option", {
                "category_key": f"category.{cat}", "fee": format_fen(fee),
                "deposit": format_fen(deposit)}), cat))
        self.ask_choice(("field.category", {}), options, self._got_category)

    def _got_category(self, cat: str) -> None:
        self.form["category"] = cat
        if GUARDIAN_STEP in self.steps:
            self.goto(self.show_guardian, self.at(GUARDIAN_STEP))
        else:
            self.goto(self.show_phone, self.at("step.phone"))

    def show_guardian(self) -> None:
        self.step = self.at(GUARDIAN_STEP)

        def got(value: str) -> None:
            try:
                self.form["guardian_phone"] = self.backend.validate_phone(value)
            except KioskError as err:
                self.refuse(err)
                return
            self.goto(self.show_phone, self.at("step.phone"))

        self.ask_digits("field.guardian_phone", mode="phone", max_len=11, min_len=11, on_ok=got,
                        hint=("guardian.hint", {}))

    def show_phone(self) -> None:
        self.step = self.at("step.phone")
        self.ask_phone(self.form, self.show_pin, self.at("step.pin"))

    # ---- PIN, payment, card ----------------------------------------------------------------------
    def show_pin(self) -> None:
        self.step = self.at("step.pin")
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
        self.goto(self.show_pin_again, self.at("step.pin"))

    def show_pin_again(self) -> None:
        self.step = self.at("step.pin")
        self.ask_digits("field.pin_again", mode="pin", max_len=6, min_len=6, on_ok=self._got_pin2)

    def _got_pin2(self, pin: str) -> None:
        if pin != self.form.get("pin"):
            self.goto(self.show_pin, self.at("step.pin"), remember=False)
            self.refuse("pin.mismatch")
            return
        self.goto(self.show_payment, self.at("step.payment"))

    def show_payment(self) -> None:
        self.step = self.at("step.payment")
        fee, deposit = self.backend.new_card_prices(self.form["category"])
        total = fee + deposit
        lines = [
            ("summary.name", {"value": self.form["name"]}),
            ("summary.id_number", {"value": mask_resident_id(self.form["id_number"])}),
            ("summary.category", {"category_key": f"category.{self.form['category']}"}),
            ("summary.phone", {"value": mask_mobile(self.form["phone"])}),
        ]
        if self.app.senior:  # fewer items: the ID number was confirmed on the card's step
            del lines[1]
        if self.form.get("guardian_phone") and not self.app.senior:
            lines.append(("summary.guardian_phone",
                          {"value": mask_mobile(self.form["guardian_phone"])}))
        lines.append(("summary.fee_deposit", {"fee": format_fen(fee),
                                              "deposit": format_fen(deposit)}))
        if total == 0:
            self.show_info(("summary.title", {}), lines,
                           [("nav.next", "primary", lambda: self._paid(None))])
        else:
            self.ask_payment(total, self._paid, lines=lines)

    def _paid(self, tender: Any) -> None:
        self.form["tender"] = tender
        self.goto(self.show_card, self.at("step.card"))

    def show_card(self) -> None:
        self.step = self.at("step.card")
        self.wait_for_blank_card(self._card_placed)

    def _card_placed(self, _event: Any) -> None:
        form = dict(self.form)
        lang = self.app.lang
        staff = self.app.staff
        self.work(lambda: self.backend.issue_card(form, language=lang, staff=staff),
                  lambda outcome: self.finish(outcome, "newcard.done"))
