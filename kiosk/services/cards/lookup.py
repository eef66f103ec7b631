"""Card look-ups, no writes: identify a tapped card, and the quotes the screens show before a
payment (new-reader check, prices, renewal terms), from the same rules the use cases apply."""

from __future__ import annotations

import datetime as dt

from kiosk.services.cards.base import CardDesk, refuse_if_owed
from kiosk.services.errors import ReaderExists
from kiosk.services.views import ReaderSummary, summary
from library_core.ages import categories_for, guardian_required, id_card_refusal
from library_core.errors import ValidationError
from library_core.fees import FeeSchedule
from library_core.identity import birth_date_from_id, id_number_hash, validate_resident_id
from library_core.money import Fen
from library_core.rules import RenewalTerms, holder_of_id_number, renewal_terms
from library_core.tokens import decode_card_token


class CardLookup(CardDesk):
    """Tap and quotes. Raises TokenError, CardRefused, ReaderExists, FeesOwed, ValidationError."""

    # -- tap -----------------------------------------------------------------------------------
    def identify_card(self, uid: bytes, raw_token: bytes, *, allow_expired: bool = False) -> ReaderSummary:
        """The reader behind a tapped card, or a refusal.

        Raises TokenError (blank, foreign, copied, tampered...), CardRefused with
        ``card.unknown``, ``card.lost`` (reported lost or replaced, even for an exact copy),
        ``card.cancelled``, ``card.expired`` (unless ``allow_expired``, as renewal does).
        """
        today = self.clock.now().date()
        token = decode_card_token(raw_token, uid, self.cfg.library_key)
        with self.repos.transaction() as uow:
            card, reader = self._card_and_reader(uow, token, uid,
                                                 today=None if allow_expired else today)
            return summary(uow, reader, card, today)

    def tap(self, *, allow_expired: bool = False) -> ReaderSummary:
        """Identify the card on the reader now. Raises CardRefused ``card.none`` if none."""
        uid = self._uid()
        return self.identify_card(uid, self.writer.read_token(uid), allow_expired=allow_expired)

    # -- quotes: what the screens show before a payment (the same rules the use cases apply) --
    def check_new_reader(self, id_number: str) -> str:
        """The validated ID number, if a new reader may register with it. Raises
        ValidationError for a bad number, ReaderExists when it is already an active reader's."""
        value = validate_resident_id(id_number, today=self.clock.now().date())
        self._refuse_registered(value)
        return value

    def _refuse_registered(self, id_number: str) -> None:
        """One active reader per ID number (``library_core.rules.holder_of_id_number``), matched
        by the keyed hash of the number (the kiosk holds no number; the server checks the
        numbers themselves when the registration reaches it)."""
        id_hash = id_number_hash(id_number, self.cfg.library_key)
        with self.repos.read() as view:
            holder = holder_of_id_number(view.readers.registered_with(id_hash))
        if holder is not None:
            raise ReaderExists(None, "reader already registered",
                               has_live_card=holder.has_live_card)

    def categories_for(self, id_number: str) -> tuple[str, ...]:
        """The categories the holder of ``id_number`` may register in today (one when it
        follows from the age; ``library_core.ages``). Raises ValidationError for a bad number."""
        birth = self._birth(id_number)
        return tuple(str(c) for c in categories_for(birth, self.clock.now().date()))

    def guardian_needed(self, id_number: str) -> bool:
        """True when the holder of ``id_number`` is under 14 (a guardian's phone is asked)."""
        return guardian_required(self._birth(id_number), self.clock.now().date())

    def _birth(self, id_number: str) -> dt.date:
        value = validate_resident_id(id_number, today=self.clock.now().date())
        birth = birth_date_from_id(value)
        assert birth is not None  # validate_resident_id checked it
        return birth

    def check_id_card(self, id_number: str, *, valid_to: dt.date | None,
                      valid_from: dt.date | None = None) -> str:
        """The validated ID number of a resident ID card that may be used today. Raises
        ValidationError ``idcard.expired`` / ``idcard.not_yet_valid`` / ``id.*``."""
        today = self.clock.now().date()
        value = validate_resident_id(id_number, today=today)
        refusal = id_card_refusal(valid_to, today, valid_from=valid_from)
        if refusal is not None:
            raise ValidationError(refusal, "ID card not valid today",
                                  valid_to=valid_to.isoformat() if valid_to else "")
        return value

    def new_card_prices(self, category: str) -> tuple[Fen, Fen]:
        """(card fee, deposit) of a new card in ``category``, from the schedule in force."""
        cat = self.cfg.fee_schedule().for_category(category)
        return int(cat.card_fee), int(cat.deposit)

    def renewal_periods(self) -> list[int]:
        return list(self.cfg.fee_schedule().renewal_periods_months)

    def renewal_fee(self, months: int) -> Fen:
        """Raises ValidationError ``renewal.period`` for a period not offered."""
        return int(self.cfg.fee_schedule().renewal_fee_for(months))

    def replacement_fee(self) -> Fen:
        return int(self.cfg.fee_schedule().replacement_fee)

    def quote_renewal(self, card: ReaderSummary, months: int) -> RenewalTerms:
        """Fee and new expiry of renewing a tapped card. Raises FeesOwed before any payment
        while fees owed exceed the limit, ValidationError for a period not offered."""
        return self._renewal_terms(self.cfg.fee_schedule(), card, months, self.clock.now().date())

    @staticmethod
    def _renewal_terms(schedule: FeeSchedule, card: ReaderSummary, months: int,
                       today: dt.date) -> RenewalTerms:
        refuse_if_owed(card.balance_owed, schedule)
        return renewal_terms(schedule, months, expires_on=card.expires_on, today=today)
