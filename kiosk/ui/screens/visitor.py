"""Visitor registration (访客登记): name, phone, optional ID, purpose, host department, consent;
a pass with a signed QR, printed and shown on screen. Scanning the pass on the way out signs the
visitor out. Host departments come from config (named in both languages)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kivy.lang import Builder
from kivy.metrics import dp
from kivy.uix.boxlayout import BoxLayout

from kiosk.ui.screens.base import label_for
from kiosk.ui.screens.id_card_step import IdCardStepScreen
from kiosk.ui.widgets import QrImage
from library_core.errors import KioskError
from library_core.identity import mask_mobile, mask_resident_id
from library_core.visits import DEFAULT_DEPARTMENTS, PURPOSES, Department

Builder.load_file(str(Path(__file__).with_name("visitor.kv")))

STEPS = ["step.name", "step.phone", "step.id_optional", "step.purpose", "step.department",
         "step.consent"]
__all__ = ["PURPOSES", "STEPS", "VisitorScreen"]


class VisitorScreen(IdCardStepScreen):
    def wipe(self) -> None:
        self.form: dict[str, Any] = {}
        self.pass_outcome: Any = None

    def start(self, sign_out: Any = None, **_kw: Any) -> None:
        if sign_out is not None:
            self.steps = ["step.sign_out"]
            self._sign_out(sign_out)
            return
        self.steps = STEPS
        self.goto(self.show_name, 0)

    def _sign_out(self, scan: Any) -> None:
        def done(result: Any) -> None:
            key = "visitor.already_signed_out" if result.already_closed else "visitor.signed_out"
            self.goto(lambda: self.show_info((key, {"name": result.visit.name_masked}), [],
                                             [("nav.done", "primary", self.app.home)]), 0)

        def failed(err: BaseException) -> None:
            self.goto(lambda: self.show_info(("visitor.sign_out_failed", {}), [],
                                             [("nav.done", "primary", self.app.home)]), 0)
            self.refuse(err)

        self.work(lambda: self.backend.sign_out_visitor(scan), done, failed)

    def on_flow_scan(self, scan: Any) -> bool:
        if getattr(scan, "kind", "") == "visitor_pass" and not self.busy:
            self.steps = ["step.sign_out"]
            self._sign_out(scan)
            return True
        return False

    def show_name(self) -> None:
        self.step = 0
        entry = self.ask_name(self._got_name, value=self.form.get("name", ""))
        # or the resident ID card fills the name (optional; nothing else is taken from it)
        entry.parent.add_widget(label_for(("visitor.id_card_hint", {}), color=(0.25, 0.27, 0.3, 1)),
                                index=1)
        self._id_card_cb = lambda card: self._got_name(str(card.name))
        self.waiting_for = "id_card"

    def _got_name(self, name: str) -> None:
        self.form["name"] = name
        self.goto(self.show_phone, 1)

    def show_phone(self) -> None:
        self.step = 1
        self.ask_phone(self.form, self.show_id, 2)

    def show_id(self) -> None:
        self.step = 2
        self.ask_digits("field.id_optional", mode="id", max_len=18, min_len=0, on_ok=self._got_id,
                        hint=("field.id_optional_hint", {}))

    def _got_id(self, value: str) -> None:
        if value:
            try:
                value = self.backend.validate_id(value)
            except KioskError as err:
                self.refuse(err)
                return
        self.form["id_number"] = value
        self.goto(self.show_purpose, 3)

    def show_purpose(self) -> None:
        self.step = 3
        self.ask_choice(("field.purpose", {}), [((f"purpose.{p}", {}), p) for p in PURPOSES],
                        self._got_purpose, cols=3)

    def _got_purpose(self, value: str) -> None:
        self.form["purpose"] = value
        self.goto(self.show_department, 4)

    def departments(self) -> tuple[Department, ...]:
        """The host departments from config (through the visitor service), else the defaults."""
        services = getattr(self.backend, "services", None) or {}
        svc = services.get("visitors") if isinstance(services, dict) else None
        return tuple(svc.departments()) if svc is not None else DEFAULT_DEPARTMENTS

    def show_department(self) -> None:
        self.step = 4
        lang = self.app.lang
        self.ask_choice(("field.department", {}),
                        [(d.name(lang), d.code) for d in self.departments()],
                        self._got_department, cols=3)

    def _got_department(self, value: str) -> None:
        self.form["department"] = value
        self.goto(self.show_consent, 5)

    def show_consent(self) -> None:
        self.step = 5
        lines = [("summary.name", {"value": self.form["name"]}),
                 ("summary.phone", {"value": mask_mobile(self.form["phone"])})]
        if self.form.get("id_number"):
            lines.append(("summary.id_number", {"value": mask_resident_id(self.form["id_number"])}))
        lines.append(("visitor.privacy_notice", {}))
        self.show_info(("visitor.consent_title", {}), lines,
                       [("visitor.agree", "ok", self._register)])

    def _register(self) -> None:
        form, lang = dict(self.form), self.app.lang
        self.work(lambda: self.backend.register_visitor(form, language=lang),
                  lambda outcome: self.goto(lambda: self.show_pass(outcome), remember=False))

    def show_pass(self, outcome: Any) -> None:
        """The pass on screen as well as on paper: masked name, valid until, the QR to scan."""
        receipt = outcome.receipt
        valid_until = str(dict(receipt.fields).get("receipt.field.valid_until", ""))
        printed = ("receipt.printed", {}) if outcome.printed else (
            outcome.print_error_key or "receipt.not_printed", {})
        lines = [("visitor.pass_name", {"name": receipt.reader_name}),
                 ("visitor.pass_valid_until", {"time": valid_until}),
                 ("receipt.number", {"number": receipt.receipt_no}),
                 ("visitor.pass_hint", {}), printed]
        self.show_info(("visitor.pass_title", {}), lines,
                       [("nav.done", "primary", self.app.home)])
        # the QR beside the lines, not under them: on a 800 px high screen it must not need a
        # scroll to be seen (the visitor scans it at the exit when the paper pass is lost)
        scroll = self.info_lines.parent
        box = scroll.parent
        index = box.children.index(scroll)
        box.remove_widget(scroll)
        row = BoxLayout(spacing=dp(24))
        row.add_widget(scroll)
        self.pass_qr = QrImage(data=outcome.qr_text, size_hint_x=0.4, fit_mode="contain")
        row.add_widget(self.pass_qr)
        box.add_widget(row, index=index)
        self.pass_outcome = outcome
