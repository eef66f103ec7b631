"""Fee, return and visitor flows of the UI backend: pay open fees, a returns session, visitor
registration, sign-out and the roster. Each asks its service; nothing here decides."""

from __future__ import annotations

from typing import Any

from kiosk.ui.flows.base import FlowBase
from kiosk.ui.flows.results import NotAvailable, Outcome, ReturnLine, ReturnSession, TappedCard
from library_core.money import format_fen


class CounterFlows(FlowBase):
    """Fee, returns and visitor screens' calls: each asks its service."""

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
        ils_words = " / ".join(getattr(res, "messages", ()))  # an ILS's screen messages
        if outcome == "returned":
            status = "hold" if res.hold else ("overdue" if res.fine else "ok")
        elif ils_words and outcome in ("unknown_item", "not_on_loan"):
            status = "ils_refused"  # the ILS said why, in its words
        else:
            status = {"already_returned": "duplicate", "unknown_item": "unknown"}.get(outcome, outcome)
        out = ReturnLine(barcode=res.barcode, title=res.title or "", status=status, fine=int(res.fine),
                         message=ils_words)
        session.lines.append(out)
        return out

    def finish_returns(self, session: ReturnSession, *, language: str) -> Outcome:
        receipt = session.service_session.finish()
        if receipt is None:
            raise NotAvailable("returns.nothing", "nothing was returned")
        lines = [(f"returns.line.{r.status}", {"title": r.title or r.barcode, "barcode": r.barcode,
                                               "fine": format_fen(r.fine), "message": r.message})
                 for r in session.lines]
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

    def print_roster(self, staff: Any, *, language: str) -> Outcome:
        return self.print(self._service("visitors").roster_receipt(staff), language, [])
