"""Staff mode: sign in by staff card or staff number, then PIN; desk and supervisor functions.
Every action goes through a service that audits it with the staff number."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kivy.lang import Builder

from kiosk.ui.screens.base import FlowScreen
from kiosk.ui.screens.renewal import account_lines
from library_core.errors import KioskError
from library_core.money import format_fen

Builder.load_file(str(Path(__file__).with_name("staff.kv")))


class StaffScreen(FlowScreen):
    def wipe(self) -> None:
        self.staff_no = ""
        self.card: Any = None
        self.pending = ""

    def has_session(self) -> bool:
        return True

    def start(self, staff_scan: Any = None, **_kw: Any) -> None:
        if self.app.staff is not None:
            self.steps = ["staff.menu"]
            self.goto(self.show_menu, 0)
            return
        self.steps = ["step.staff_no", "step.pin"]
        if staff_scan is not None:
            self.staff_no = staff_scan.value
            self.goto(self.show_pin, 1)
        else:
            self.goto(self.show_staff_no, 0)

    def on_flow_scan(self, scan: Any) -> bool:
        if getattr(scan, "kind", "") == "staff_card" and self.app.staff is None and not self.busy:
            self.staff_no = scan.value
            self.goto(self.show_pin, 1)
            return True
        return False

    def show_staff_no(self) -> None:
        self.step = 0
        self.ask_digits("field.staff_no", mode="plain", max_len=8, min_len=4, on_ok=self._got_no,
                        hint=("staff.scan_card_hint", {}))

    def _got_no(self, value: str) -> None:
        # the keypad has digits only: staff numbers are "S" + digits (S0001)
        self.staff_no = value if value[:1].isalpha() else "S" + value
        self.goto(self.show_pin, 1)

    def show_pin(self) -> None:
        self.step = 1
        self.ask_digits("field.pin", mode="pin", max_len=6, min_len=4, on_ok=self._got_pin)

    def _got_pin(self, pin: str) -> None:
        staff_no = self.staff_no

        def done(session: Any) -> None:
            self.app.staff = session
            self.steps = ["staff.menu"]
            self._history.clear()
            self._current = None
            self.goto(self.show_menu, 0)

        self.work(lambda: self.backend.staff_login(staff_no, pin), done)

    # ---- menu ----------------------------------------------------------------------------
    def show_menu(self) -> None:
        staff = self.app.staff
        options: list[Any] = [
            (("staff.issue_card", {}), "issue"), (("staff.cash_payment", {}), "cash"),
            (("staff.reprint", {}), "reprint"), (("staff.roster", {}), "roster"),
            (("staff.diagnostics", {}), "diagnostics"),
        ]
        if self.backend.services.get("ils_runtime") is not None:  # SIP2: the exception report
            options.append((("staff.ils_exceptions", {}), "ils_exceptions"))
        if str(staff.role) == "supervisor":
            options += [(("staff.waive", {}), "waive"), (("staff.cancel_card", {}), "cancel"),
                        (("staff.close_day", {}), "close_day")]
        options.append((("staff.logout", {}), "logout"))
        self.ask_choice(("staff.menu_title", {"name": staff.name}), options, self._menu, cols=3)

    def back(self) -> None:
        if self.app.staff is not None and not self._history:
            return
        super().back()

    def cancel(self) -> None:
        if self.app.staff is not None:
            self._history.clear()
            self._current = None
            self.goto(self.show_menu, 0)
            return
        super().cancel()

    def _menu(self, choice: str) -> None:
        staff = self.app.staff
        if choice == "issue":
            self.app.go("new_card")
        elif choice == "cash":
            self.app.go("fees")
        elif choice == "logout":
            self.app.staff_logout()
        elif choice == "roster":
            lang = self.app.lang
            self.work(lambda: self.backend.print_roster(staff, language=lang),
                      lambda outcome: self.finish(outcome, "staff.roster_done"))
        elif choice == "close_day":  # the figures that will print, before the supervisor confirms
            self.work(lambda: self.backend.close_day_preview(staff), lambda lines: self.goto(
                lambda: self.show_info(("staff.close_day_confirm", {}), lines, [
                    ("staff.close_day", "danger", lambda: self.goto(self.show_cash_count))])))
        elif choice == "diagnostics":
            self.work(lambda: self.backend.diagnostics(staff), lambda lines: self.goto(
                lambda: self.show_info(("staff.diagnostics", {}), lines)))
        elif choice == "ils_exceptions":
            from kiosk.ui.flows.ils import ils_exception_lines

            services = self.backend.services
            self.work(lambda: ils_exception_lines(services), lambda lines: self.goto(
                lambda: self.show_info(("staff.ils_exceptions", {}), lines)))
        elif choice == "reprint":
            self.work(lambda: self.backend.reprint_list(20),
                      lambda entries: self.goto(lambda: self.show_reprint_list(entries)))
        elif choice in ("waive", "cancel"):
            self.pending = choice
            self.goto(self.show_tap)

    def show_reprint_list(self, entries: list[Any]) -> None:
        """The receipt journal, unprinted receipts first (each with why it did not print), one
        touch-sized button per receipt that prints it again."""
        if not entries:
            self.show_info(("staff.reprint", {}), [("staff.reprint_none", {})])
            return
        from kivy.metrics import dp
        from kivy.uix.boxlayout import BoxLayout
        from kivy.uix.gridlayout import GridLayout
        from kivy.uix.scrollview import ScrollView

        from kiosk.ui.screens.base import label_for
        from kiosk.ui.widgets import KButton

        box = BoxLayout(orientation="vertical", spacing=dp(12))
        box.add_widget(label_for(("staff.reprint", {}), font_size=dp(34)))
        unprinted = sum(1 for e in entries if not e.printed)
        box.add_widget(label_for(("staff.reprint_unprinted", {"count": unprinted})))
        grid = GridLayout(cols=2, spacing=dp(14), size_hint_y=None)
        grid.bind(minimum_height=grid.setter("height"))
        buttons = []
        for entry in entries:
            key, params = reprint_line(entry)
            btn = KButton(key=key, params=params, kind="ghost" if entry.printed else "primary",
                          height=dp(96))
            btn.choice = entry.receipt_no
            btn.bind(on_release=lambda b: self._reprint(b.choice))
            grid.add_widget(btn)
            buttons.append(btn)
        scroll = ScrollView(do_scroll_x=False)  # a long journal scrolls; buttons stay full size
        scroll.add_widget(grid)
        box.add_widget(scroll)
        self.body.add_widget(box)
        self.choices = buttons

    def show_tap(self) -> None:
        self.show_info(("card.tap", {}), [("card.tap_hint", {})])
        self.waiting_for = "card"

    def on_card(self, card: Any) -> bool:
        if self.waiting_for != "card" or self.busy:
            return False
        self.card = card
        if self.pending == "waive":
            self.work(lambda: self.backend.open_fees(card), self._show_waive)
        else:
            self.goto(lambda: self.show_info(("staff.cancel_confirm", {}), account_lines(card), [
                ("staff.cancel_card", "danger", self._cancel_card)]))
        return True

    def on_card_error(self, err: KioskError) -> bool:
        if self.waiting_for != "card":
            return False
        self.refuse(err)
        return True

    def _show_waive(self, fees: list[Any]) -> None:
        options = [(("fees.line", {"kind_key": f"fee.kind.{f.kind}", "text": f.description,
                                   "amount": format_fen(f.due)}), f.fee_id) for f in fees]
        self.goto(lambda: self.ask_choice(("staff.waive_pick", {}), options, self._waive, cols=1))

    def _waive(self, fee_id: str) -> None:
        staff, card = self.app.staff, self.card
        self.work(lambda: self.backend.waive_fee(staff, card, fee_id),
                  lambda _r: self.work(lambda: self.backend.open_fees(card), self._show_waive))

    def _cancel_card(self) -> None:
        staff, card, lang = self.app.staff, self.card, self.app.lang
        self.work(lambda: self.backend.cancel_card(staff, card, language=lang),
                  lambda outcome: self.finish(outcome, "staff.cancel_done"))

    def show_cash_count(self) -> None:
        """The drawer as counted, in yuan with a point (the keypad's point key); the day closes
        only on a count the backend takes, else the refusal names what is wrong."""
        self.ask_digits("field.cash_counted", mode="yuan", max_len=12, min_len=1,
                        on_ok=self._close_day, hint=("staff.cash_count_hint", {}),
                        ok_key="staff.close_day")

    def _close_day(self, counted: str) -> None:
        staff, lang = self.app.staff, self.app.lang
        self.work(lambda: self.backend.close_day(staff, language=lang, cash_counted=counted),
                  lambda outcome: self.finish(outcome, "staff.close_day_done"))

    def _reprint(self, receipt_no: str) -> None:
        staff, lang = self.app.staff, self.app.lang
        self.work(lambda: self.backend.reprint(staff, receipt_no, language=lang),
                  lambda outcome: self.finish(outcome, "staff.reprint_done"))


def reprint_line(entry: Any) -> tuple[str, dict[str, Any]]:
    """A journal entry as a button label: number, kind, and its print state (with the reason)."""
    params: dict[str, Any] = {"receipt_no": entry.receipt_no,
                              "kind_key": f"receipt.title.{entry.kind}"}
    if entry.print_status == "failed":
        params["reason_key"] = entry.message_id or "printer.error"
    return f"staff.reprint_line.{entry.print_status}", params
