"""Staff-mode flows of the UI backend: log-in and out, device diagnostics, the receipt journal
and reprints, fee waiver, card cancellation, close of day. The staff service decides and
audits; these helpers gather what the screens show."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from kiosk.ui.flows.base import FlowBase
from kiosk.ui.flows.results import NotAvailable, Outcome, TappedCard
from library_core.cash_count import parse_cash_count
from library_core.money import format_fen

log = logging.getLogger(__name__)


class StaffFlows(FlowBase):
    """Staff screens' calls: the staff service decides and audits."""

    def staff_login(self, staff_no: str, pin: str) -> Any:
        return self._service("staff").login(staff_no, pin)

    def staff_logout(self, staff: Any, *, reason: str) -> None:
        svc = self.services.get("staff")
        if svc is not None:
            try:
                svc.logout(staff)
            except Exception:
                log.exception("staff logout audit failed (%s)", reason)

    def diagnostics(self, staff: Any = None) -> list[Any]:
        """What the diagnostics screen lists; opening it is audited by the staff service."""
        if staff is not None:
            self._service("staff").diagnostics_viewed(staff)
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
        self._service("staff").receipt_reprinted(staff, receipt_no, printed=outcome.printed,
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
                      {"amount": format_fen(report.taken_total)}))
        lines.append(("staff.close_day.cash_expected", {"amount": format_fen(report.cash_expected)}))
        return lines

    def close_day(self, staff: Any, *, language: str, cash_counted: str) -> Outcome:
        """Close the day with the drawer count as typed (yuan, ``123.45``); a bad count raises
        ValidationError ``cash_count.*`` and nothing is closed."""
        counted = parse_cash_count(cash_counted)
        _report, receipt = self._service("staff").close_day(staff, cash_counted=counted)
        return self.print(receipt, language, [])
