"""The "place your ID card on the reader" step that the card flows share (new card,
replacement, visitor): a read card goes to the step's callback, a failed read is refused in
place; in staff mode a button lets the desk type the details instead."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kiosk.ui.screens.base import FlowScreen
from library_core.errors import KioskError


class IdCardStepScreen(FlowScreen):
    """A flow with an ID-card step (``wait_for_id_card``)."""

    _id_card_cb: Callable[[Any], None] | None = None

    def reset(self) -> None:
        self._id_card_cb = None
        super().reset()

    def wait_for_id_card(self, on_card: Callable[[Any], None], *,
                         title: str = "id_card.prompt.place", hint: str = "idcard.place_hint",
                         on_type: Callable[[], None] | None = None) -> None:
        """Ask for the ID card; ``on_card(IdCardData)`` when one is read. ``on_type`` (typing
        by hand) is offered in staff mode only. A card already lying on the reader is not
        used: it may be the last reader's (the hint asks to place it again)."""
        self._id_card_cb = on_card
        actions: list[tuple[str, str, Callable[[], None]]] = []
        if self.app.staff is not None and on_type is not None:
            actions.append(("idcard.type_by_hand", "neutral", on_type))
        self.show_info((title, {}), [(hint, {}), ("idcard.place_again_hint", {})], actions)
        self.waiting_for = "id_card"

    def on_id_card(self, card: Any) -> bool:
        if self.waiting_for != "id_card" or self.busy or self._id_card_cb is None:
            return False
        self._id_card_cb(card)
        return True

    def on_id_card_error(self, err: KioskError) -> bool:
        if self.waiting_for != "id_card":
            return False
        self.refuse(err)
        return True
