"""The UI's one door to the use cases and devices (a thin adapter; no business rules here).

Screens call these methods off the Kivy thread (``FlowScreen.work``); ``start`` wires device
events into the bridge. Results are the services' own dataclasses, wrapped in ``Outcome`` when
a receipt was made and printed (or not).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from library_core.errors import KioskError
from library_core.identity import validate_mobile, validate_resident_id
from library_core.money import Fen, format_fen
from library_core.receipts import Receipt

log = logging.getLogger(__name__)


class NotAvailable(KioskError):
    message_id = "ui.not_available"


@dataclass(frozen=True)
class Outcome:
    """A finished transaction: its receipt, whether it printed, what the screen lists."""

    receipt: Receipt
    printed: bool
    print_error_key: str = ""
    lines: tuple[Any, ...] = ()

    @property
    def qr_text(self) -> str:
        return self.receipt.qr


@dataclass
class TappedCard:
    """A card identified on the reader: the services' ReaderSummary plus the raw token."""

    summary: Any
    uid: bytes
    raw: bytes

    def __getattr__(self, name: str) -> Any:
        return getattr(self.summary, name)

    @property
    def owed(self) -> Fen:
        return int(self.summary.balance_owed)


@dataclass
class ReturnLine:
    barcode: str
    title: str
    status: str  # ok | overdue | hold | unknown | not_on_loan | duplicate
    fine: Fen = 0


@dataclass
class ReturnSession:
    lines: list[ReturnLine] = field(default_factory=list)
    service_session: Any = None


@dataclass(frozen=True)
class RenewalQuote:
    months: int
    fee: Fen
    new_expires_on: Any


class Backend:
    """Adapter from screens to ``kiosk.services`` and ``devices``."""

    def __init__(self, *, settings: Any, clock: Any, store: Any, services: dict[str, Any],
                 card_reader: Any, scanner: Any, printer: Any, parser: Any,
                 sync_status: Callable[[], Any] | None = None,
                 wedge: Any = None) -> None:
        self.settings = settings
        self.clock = clock
        self.store = store
        self.services = services
        self.card_reader = card_reader
        self.scanner = scanner
        self.printer = printer
        self.parser = parser
        self.sync_status = sync_status
        self.wedge = wedge
        self.app: Any = None
        self._unsubscribe: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self._closing_event: Any = None
        self.closing_at: dt.datetime | None = None  # when open visits are next closed

    # ---- wiring ----------------------------------------------------------------------------
    def start(self, app: Any) -> None:
        """Subscribe device events to the bridge and start polling status (Kivy thread)."""
        from kivy.clock import Clock

        from devices.card_reader import CardInserted, CardRemoved, ReaderStatus
        from devices.scanner import Scanned, ScannerStatus

        self.app = app
        bridge = app.bridge
        bridge.on(CardInserted, self._on_card_inserted)
        bridge.on(CardRemoved, lambda _e: None)
        bridge.on(ReaderStatus, self._on_reader_status)
        bridge.on(Scanned, self._on_scanned)
        bridge.on(ScannerStatus, lambda _e: None)
        for device in (self.card_reader, self.scanner, self.wedge):
            if device is None:
                continue
            self._unsubscribe.append(device.subscribe(bridge.deliver))
            device.start()
        if self.wedge is not None:
            app.ctx.key_sink = self._feed_wedge
        st = self.card_reader.status
        self._on_reader_status(st() if callable(st) else st)
        Clock.schedule_interval(lambda _dt: self.poll_status(), 2.0)
        self.poll_status()
        self.close_expired_visits()  # a day already past (the kiosk was off at closing)
        self.schedule_closing()

    # ---- closing time: open visits are closed by the system -------------------------------
    def _next_closing(self, now: dt.datetime) -> dt.datetime:
        closing = dt.time.fromisoformat(self.settings.kiosk.closing_time)
        today = dt.datetime.combine(now.date(), closing, tzinfo=now.tzinfo)
        return today if now < today else today + dt.timedelta(days=1)

    def schedule_closing(self, at: dt.datetime | None = None) -> None:
        """Put a Kivy Clock event on the next closing time by the kiosk's clock (Kivy thread)."""
        from kivy.clock import Clock

        if self._closing_event is not None:
            self._closing_event.cancel()
        now = self.clock.now()
        self.closing_at = at or self._next_closing(now)
        delay = max(0.0, (self.closing_at - now).total_seconds())
        self._closing_event = Clock.schedule_once(self._at_closing, delay)

    def _at_closing(self, _dt: float) -> None:
        if self.closing_at is not None and self.clock.now() < self.closing_at:  # woke early by the kiosk's clock: wait the rest
            self.schedule_closing(self.closing_at)
            return
        self.close_expired_visits()
        self.schedule_closing()  # the next day's closing

    def close_expired_visits(self) -> None:
        """Close (off the Kivy thread) every visit whose pass ran out; audited as ``system``."""
        visitors = self.services.get("visitors")
        if visitors is None or self.app is None:
            return
        self.app.bridge.run_async(
            visitors.auto_close, lambda n: log.info("closing: %d open visits closed", n),
            lambda err: log.error("closing open visits failed: %r", err))

    def stop(self) -> None:
        if self._closing_event is not None:
            self._closing_event.cancel()
            self._closing_event = None
        for unsub in self._unsubscribe:
            unsub()
        for device in (self.card_reader, self.scanner, self.wedge):
            if device is not None:
                try:
                    device.stop()
                except Exception:
                    log.exception("stopping %r", device)

    def _feed_wedge(self, key: str, ts: float) -> None:
        self.wedge.feed_key(key, ts)

    def poll_status(self) -> None:
        """Ask printer and sync for their status off the Kivy thread; show it on the strip."""
        def work() -> tuple[Any, Any]:
            try:
                pst = self.printer.status()
            except Exception as err:  # a printer that cannot be asked is offline
                pst = err
            sync = self.sync_status() if self.sync_status is not None else None
            return pst, sync

        self.app.bridge.run_async(work, self._show_status, lambda err: log.warning("status: %s", err))

    def _show_status(self, result: tuple[Any, Any]) -> None:
        app = self.app
        pst, sync = result
        if isinstance(pst, BaseException) or not getattr(pst, "online", False):
            app.printer_state, app.printer_level = "status.printer.offline", "bad"
        elif pst.paper == "out":
            app.printer_state, app.printer_level = "status.printer.paper_out", "bad"
        elif getattr(pst, "cover_open", False):
            app.printer_state, app.printer_level = "status.printer.cover_open", "bad"
        elif pst.paper == "near_end":
            app.printer_state, app.printer_level = "status.printer.paper_low", "warn"
        else:
            app.printer_state, app.printer_level = "status.ok", "ok"
        if sync is None:
            app.server_state, app.server_level = "status.unknown", "unknown"
        else:
            online = bool(getattr(sync, "online", False))
            state = str(getattr(sync, "state", ""))
            if online:
                app.server_state = "status.server.online"
            elif state in ("revoked", "refused"):  # reached, but not accepted: say why
                app.server_state = f"status.server.{state}"
            else:
                app.server_state = "status.server.offline"
            app.server_level = "ok" if online else "bad"
            app.queued = int(getattr(sync, "pending", getattr(sync, "queued", 0)) or 0)
        if sync is None and self.store is not None:
            with contextlib.suppress(Exception):
                app.queued = int(self.store.pending_count())

    def _on_reader_status(self, status: Any) -> None:
        ready = bool(getattr(status, "ready", False))
        self.app.reader_state = "status.ok" if ready else "status.reader.unavailable"
        self.app.reader_level = "ok" if ready else "bad"

    def _on_card_inserted(self, event: Any) -> None:
        app = self.app
        app.touch_activity()
        if app.screen.on_card_inserted(event):
            return

        def done(card: TappedCard) -> None:
            if card.summary is None:
                return
            if not app.screen.on_card(card):
                log.info("card tapped on %s: not used there", app.sm.current)

        def failed(err: BaseException) -> None:
            if isinstance(err, KioskError):
                if not app.screen.on_card_error(err):
                    app.show_message(err.message_id, **err.params)
            else:
                log.error("reading card failed: %r", err)

        # the screen cannot go on without the card: wait up to 0.1 s for the read here, so a
        # quick read is shown in this frame, not after a second hand-over to the Kivy thread
        app.bridge.run_async(lambda: self.read_card(event.uid), done, failed, wait_s=0.1)

    def _on_scanned(self, event: Any) -> None:
        from library_core.scan import ScanRefused

        app = self.app
        app.touch_activity()
        result = self.parser.parse(event.text)
        if isinstance(result, ScanRefused):
            if hasattr(app.screen, "refuse"):
                app.screen.refuse(result.message_id)
            else:
                app.show_message(result.message_id)
            return
        if not app.screen.on_scan(result):
            app.show_message("scan.not_here")

    # ---- cards -----------------------------------------------------------------------------
    @property
    def cards(self) -> Any:
        return self.services["cards"]

    def read_card(self, uid: bytes) -> TappedCard:
        raw = self.card_reader.read_token(uid)
        summary = self.cards.identify_card(uid, raw, allow_expired=True)
        return TappedCard(summary, uid, raw)

    def validate_phone(self, value: str) -> str:
        return validate_mobile(value)

    def validate_id(self, value: str) -> str:
        return validate_resident_id(value, today=self.clock.now().date())

    def check_new_reader(self, id_number: str) -> None:
        """Raises ValidationError for a bad ID, ReaderExists when the ID number is already an
        active reader's (the card service's rule, the one ``new_card`` applies)."""
        self.cards.check_new_reader(id_number)

    def fees_now(self) -> Any:
        """The fee schedule the services charge from (the last pulled, else the config seed),
        so a quote on screen and the charge agree."""
        source = self.services.get("fee_schedule")
        return source.current() if source is not None else self.settings.fees

    def new_card_prices(self, category: str) -> tuple[Fen, Fen]:
        return self.cards.new_card_prices(category)  # type: ignore[no-any-return]

    def renewal_periods(self) -> list[int]:
        return list(self.cards.renewal_periods())

    def renewal_fee(self, months: int) -> Fen:
        return int(self.cards.renewal_fee(months))

    def replacement_fee(self) -> Fen:
        return int(self.cards.replacement_fee())

    def code_tender(self, code: str) -> Any:
        from kiosk.services.common import Tender

        return Tender.payment_code(code)

    def cash_tender(self, staff: Any) -> Any:
        from kiosk.services.common import Tender

        return Tender.cash_by(staff)

    def issue_card(self, form: dict[str, Any], *, language: str, staff: Any = None) -> Outcome:
        from kiosk.services.cards import NewReader

        req = NewReader(name=form["name"], id_number=form["id_number"], phone=form["phone"],
                        category=form["category"], pin=form["pin"])
        result = self.cards.new_card(req, form.get("tender"), staff=staff)
        lines = [("summary.card_no", {"value": result.receipt.card_no_masked}),
                 ("summary.expires", {"value": result.expires_on.isoformat()}),
                 ("summary.paid", {"value": format_fen(result.amount)})]
        return self.print(result.receipt, language, lines)

    def check_renewal(self, card: TappedCard, months: int) -> RenewalQuote:
        """Refuses (FeesOwed) before any payment while fees owed exceed the limit (the card
        service's quote: the same check and terms ``renew`` applies)."""
        terms = self.cards.quote_renewal(card.summary, months)
        return RenewalQuote(terms.months, int(terms.fee), terms.expires_on)

    def renew(self, card: TappedCard, months: int, tender: Any, *, language: str,
              staff: Any = None) -> Outcome:
        result = self.cards.renew(card.uid, card.raw, months, tender, staff=staff)
        lines = [("summary.card_no", {"value": card.card_no_masked}),
                 ("renewal.new_expiry", {"value": result.expires_on.isoformat()}),
                 ("summary.paid", {"value": format_fen(result.amount)})]
        return self.print(result.receipt, language, lines)

    def report_lost(self, id_number: str, pin: str, *, staff: Any = None) -> Any:
        """ID number + PIN, then the old card is blocked at once (its own transaction)."""
        auth = self.cards.verify_reader(id_number, pin)
        blocked = self.cards.report_lost(auth, staff=staff)
        return _LostReport(auth, blocked)

    def replace_card(self, report: Any, tender: Any, *, language: str, staff: Any = None) -> Outcome:
        result = self.cards.replace(report.auth, tender, staff=staff)
        lines = [("summary.card_no", {"value": result.receipt.card_no_masked}),
                 ("summary.expires", {"value": result.expires_on.isoformat()}),
                 ("summary.paid", {"value": format_fen(result.amount)})]
        return self.print(result.receipt, language, lines)

    # ---- printing ----------------------------------------------------------------------------
    def print(self, receipt: Receipt, language: str, lines: list[Any]) -> Outcome:
        """Print in the reader's language; a printer fault still completes (QR on screen)."""
        from devices.printer import print_and_report
        from server_client.store import StoreReceiptJournal

        receipt = dataclasses.replace(receipt, language=language)
        result = print_and_report(self.printer, receipt,
                                  journal=StoreReceiptJournal(self.store, self.clock))
        self.app.bridge.post(self.poll_status) if self.app is not None else None
        return Outcome(receipt, bool(result.ok), "" if result.ok else (result.message_id or "printer.error"),
                       tuple(lines))

    # ---- services that other modules provide -------------------------------------------------
    def _service(self, name: str) -> Any:
        svc = self.services.get(name)
        if svc is None:
            raise NotAvailable(None, f"{name} service not wired")
        return svc

    def open_fees(self, card: TappedCard) -> list[Any]:
        return list(self._service("fees").open_fees(card.reader_id))

    def pay_fees(self, card: TappedCard, fee_ids: list[str], tender: Any, *, language: str,
                 staff: Any = None) -> Outcome:
        result = self._service("fees").pay(card.reader_id, tender, fee_ids=fee_ids, staff=staff)
        lines = [("summary.paid", {"value": format_fen(int(result.amount))})]
        return self.print(result.receipt, language, lines)

    def start_returns(self) -> ReturnSession:
        return ReturnSession(service_session=self._service("returns").start())

    def return_item(self, session: ReturnSession, barcode: str) -> ReturnLine:
        res = session.service_session.scan(barcode)
        outcome = str(res.outcome)
        if outcome == "returned":
            status = "hold" if res.hold else ("overdue" if res.fine else "ok")
        else:
            status = {"already_returned": "duplicate", "unknown_item": "unknown"}.get(outcome, outcome)
        out = ReturnLine(barcode=res.barcode, title=res.title or "", status=status, fine=int(res.fine))
        session.lines.append(out)
        return out

    def finish_returns(self, session: ReturnSession, *, language: str) -> Outcome:
        receipt = session.service_session.finish()
        if receipt is None:
            raise NotAvailable("returns.nothing", "nothing was returned")
        lines = [(f"returns.line.{r.status}", {"title": r.title or r.barcode, "barcode": r.barcode,
                                               "fine": format_fen(r.fine)}) for r in session.lines]
        return self.print(receipt, language, lines)

    def register_visitor(self, form: dict[str, Any], *, language: str) -> Outcome:
        from kiosk.services.visitors import VisitorRequest

        req = VisitorRequest(name=form["name"], phone=form["phone"], purpose=form["purpose"],
                             host_department=form["department"], consent=True,
                             id_number=form.get("id_number") or "")
        result = self._service("visitors").register(req)
        return self.print(result.receipt, language, [])

    def sign_out_visitor(self, scan: Any) -> Any:
        return self._service("visitors").sign_out(scan.value)

    def staff_login(self, staff_no: str, pin: str) -> Any:
        return self._service("staff").login(staff_no, pin)

    def staff_logout(self, staff: Any, *, reason: str) -> None:
        svc = self.services.get("staff")
        if svc is not None:
            try:
                svc.logout(staff)
            except Exception:
                log.exception("staff logout audit failed (%s)", reason)

    def print_roster(self, staff: Any, *, language: str) -> Outcome:
        return self.print(self._service("visitors").roster_receipt(staff), language, [])

    def diagnostics(self, staff: Any = None) -> list[Any]:
        if staff is not None:
            self._audit_staff(staff, "device.diagnostics")
        lines: list[Any] = []
        try:
            st = self.card_reader.status
            lines.append(("diag.reader", {"value": str(st() if callable(st) else st)}))
        except Exception as err:
            lines.append(("diag.reader", {"value": repr(err)}))
        try:
            lines.append(("diag.printer", {"value": str(self.printer.status())}))
        except Exception as err:
            lines.append(("diag.printer", {"value": repr(err)}))
        if self.sync_status is not None:
            lines.append(("diag.sync", {"value": str(self.sync_status())}))
        aside = self.store.quarantined_rows(limit=1)  # pulled rows set aside (issue 10)
        if aside:
            latest = aside[0]
            lines.append(("diag.quarantine", {
                "count": self.store.quarantine_count(),
                "latest": f"{latest.entity} {latest.entity_id}: {latest.reason}"}))
        return lines

    def _audit_staff(self, staff: Any, action: str, subject: str = "", **detail: Any) -> None:
        """Desk actions with no use case of their own (diagnostics, reprint): the staff
        service audits them."""
        self._service("staff").record_desk_action(staff, action, subject, **detail)

    def reprint_list(self, limit: int = 20) -> list[Any]:
        """The journal for the staff reprint list: unprinted receipts (failed, pending) first,
        then the latest printed ones (``server_client.store.JournalEntry`` each)."""
        return list(self.store.journal_entries(limit=limit))

    def reprint(self, staff: Any, receipt_no: str, *, language: str) -> Outcome:
        """Print a journal receipt again, marked as a reprint on paper and in the audit log."""
        original = self.store.receipt(receipt_no)
        if original is None:
            raise NotAvailable("receipt.not_found", receipt_no, receipt_no=receipt_no)
        outcome = self.print(dataclasses.replace(original, reprint=True), language, [])
        self._audit_staff(staff, "receipt.reprinted", receipt_no, printed=outcome.printed,
                          reason=outcome.print_error_key)
        return outcome

    def waive_fee(self, staff: Any, card: TappedCard, fee_id: str) -> None:
        self._service("staff").waive_fee(staff, fee_id, "desk")

    def cancel_card(self, staff: Any, card: TappedCard, *, language: str) -> Outcome:
        result = self._service("staff").refund_deposit_and_cancel(staff, card.reader_id, "desk")
        return self.print(result.receipt, language, [])

    def close_day_preview(self, staff: Any) -> list[Any]:
        """The figures the Z-report will print, for the supervisor to see before confirming:
        takings by method, refunds by method, total, cash expected in the drawer."""
        report = self._service("staff").end_of_day_report(staff)
        lines: list[Any] = [("staff.close_day.payments", {"count": report.payments})]
        for method, amount in report.taken_by_method.items():
            lines.append(("staff.close_day.taken", {"method_key": f"receipt.method.{method}",
                                                    "amount": format_fen(amount)}))
        for method, amount in report.refunds_by_method.items():
            lines.append(("staff.close_day.refunded", {"method_key": f"receipt.method.{method}",
                                                       "amount": format_fen(amount)}))
        lines.append(("staff.close_day.total",
                      {"amount": format_fen(sum(report.taken_by_method.values()))}))
        lines.append(("staff.close_day.cash_expected", {"amount": format_fen(report.cash_expected)}))
        return lines

    def close_day(self, staff: Any, *, language: str) -> Outcome:
        _report, receipt = self._service("staff").close_day(staff)
        return self.print(receipt, language, [])


@dataclass
class _LostReport:
    auth: Any
    blocked: list[str]

    @property
    def name_masked(self) -> str:
        return str(self.auth.name_masked)

    @property
    def card_no_masked(self) -> str:
        from kiosk.services.common import mask_card_no

        return ", ".join(mask_card_no(c) for c in self.blocked) or "-"
