"""Reader-card flows of the UI backend: read a tapped card, the new-card form's checks and
prices, new card, renewal (quote, then renew), report lost and replacement. Each asks the card
service; nothing here decides."""

from __future__ import annotations

from typing import Any

from kiosk.ui.flows.base import FlowBase
from kiosk.ui.flows.results import LostReport, Outcome, RenewalQuote, TappedCard
from library_core.identity import validate_mobile, validate_resident_id
from library_core.money import Fen, format_fen


class CardFlows(FlowBase):
    """Card screens' calls: each asks the card service (``services["cards"]``)."""

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
                        category=form["category"], pin=form["pin"],
                        guardian_phone=form.get("guardian_phone", ""))
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
        return LostReport(auth, blocked)

    def replace_card(self, report: Any, tender: Any, *, language: str, staff: Any = None) -> Outcome:
        result = self.cards.replace(report.auth, tender, staff=staff)
        lines = [("summary.card_no", {"value": result.receipt.card_no_masked}),
                 ("summary.expires", {"value": result.expires_on.isoformat()}),
                 ("summary.paid", {"value": format_fen(result.amount)})]
        return self.print(result.receipt, language, lines)
