"""The resident ID-card reader in the UI backend: its events wired to the screen showing, and
what a read card means to the card flows (the card service decides: validity, age rules, one
reader per ID number). The card's data is handed to the screen and kept nowhere else."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from kiosk.ui.flows.base import FlowBase

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CardIdentity:
    """Who an ID card (or, in staff mode, a typed ID number) says the reader is: the fields the
    new-card form takes from it, locked, and what follows from the age."""

    name: str
    id_number: str
    birth_date: dt.date
    categories: tuple[str, ...]  # one when it follows from the age (child, senior)
    guardian_needed: bool  # under 14: the guardian's phone is asked (PIPL consent)
    from_card: bool = True


class IdCardFlows(FlowBase):
    """ID-card events to the screens, and the identity checks of a read card."""

    id_card_reader: Any

    def wire_id_card(self, app: Any) -> None:
        """Deliver the reader's events to the screen showing (Kivy thread); start the reader."""
        from devices.id_card import IdCardRead, IdCardReadFailed, IdReaderStatus

        reader = self.id_card_reader
        if reader is None:
            return
        app.bridge.on(IdCardRead, self._on_id_card_read)
        app.bridge.on(IdCardReadFailed, self._on_id_card_failed)
        app.bridge.on(IdReaderStatus, self._on_id_reader_status)
        self._unsubscribe.append(reader.subscribe(app.bridge.deliver))
        reader.start()

    _unsubscribe: list[Any]

    def stop_id_card(self) -> None:
        if self.id_card_reader is not None:
            try:
                self.id_card_reader.stop()
            except Exception:
                log.exception("stopping the ID-card reader")

    def _on_id_card_read(self, event: Any) -> None:
        app = self.app
        app.touch_activity()
        handler = getattr(app.screen, "on_id_card", None)
        if handler is None or not handler(event.card):
            log.info("ID card read on %s: not used there", app.sm.current)

    def _on_id_card_failed(self, event: Any) -> None:
        app = self.app
        handler = getattr(app.screen, "on_id_card_error", None)
        if handler is None or not handler(event.error):
            log.info("ID card read failed on %s: %s", app.sm.current, event.error.message_id)

    def _on_id_reader_status(self, status: Any) -> None:
        log.info("ID-card reader %s", getattr(status, "state", status))

    def current_id_card(self) -> Any:
        """The card on the reader now, if it was read (a step opened with the card already
        there uses it at once)."""
        reader = self.id_card_reader
        return reader.current_card() if reader is not None else None

    # ---- what a card means to the card flows ---------------------------------------------------
    def id_card_identity(self, card: Any) -> CardIdentity:
        """A read card that may be used today. Raises ValidationError ``idcard.expired`` /
        ``idcard.not_yet_valid`` (the card service's check)."""
        cards = self.services["cards"]
        number = cards.check_id_card(card.id_number, valid_to=card.valid_to,
                                     valid_from=card.valid_from)
        return self._identity(card.name, number, from_card=True)

    def typed_identity(self, name: str, id_number: str) -> CardIdentity:
        """Staff mode: a name and ID number typed at the desk. Raises ValidationError."""
        from library_core.identity import validate_resident_id

        number = validate_resident_id(id_number, today=self.clock.now().date())
        return self._identity(name, number, from_card=False)

    def _identity(self, name: str, id_number: str, *, from_card: bool) -> CardIdentity:
        from library_core.identity import birth_date_from_id

        cards = self.services["cards"]
        birth = birth_date_from_id(id_number)
        assert birth is not None  # a validated number holds a valid birth date
        return CardIdentity(name, id_number, birth, tuple(cards.categories_for(id_number)),
                            bool(cards.guardian_needed(id_number)), from_card)
