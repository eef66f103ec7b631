"""The simulated card reader: an in-memory reader for demo, training and unit tests.

It speaks the same port as the real driver (``devices.card_reader.CardReader``): the same
events, errors and key checks, with the same per-card keys (``library_core.mifare``): a card
tapped without keys is a blank card with the transport key, and the first write re-keys it with
its diversified keys. Access bits are not modelled (the virtual card behind pcscd does that).
Without a master key it uses the demo placeholder master key: it locks no real card.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Literal

from config.settings import DEMO_CARD_MASTER_KEY, CardReaderSection
from devices.card_reader import (
    BLOCK_SIZE,
    BLOCKS_PER_TOKEN,
    CardAuthError,
    CardError,
    CardInserted,
    CardReaderBase,
    CardRemovedError,
    CardWriteError,
    ReaderState,
    ReaderStatus,
    ReaderUnavailable,
    card_keys,
    write_error_from,
)
from library_core.mifare import TRANSPORT_KEY, KeyRole
from library_core.tokens import TOKEN_SIZE


@dataclass
class SimulatedCard:
    """A card for the simulator: its UID, token sector and sector keys (blank: transport key)."""

    uid: bytes
    data: bytearray = field(default_factory=lambda: bytearray(TOKEN_SIZE))
    key_a: bytes = TRANSPORT_KEY
    key_b: bytes = TRANSPORT_KEY


@dataclass
class _WriteFault:
    after_blocks: int
    cause: Literal["removed", "error", "verify"]


class SimulatedCardReader(CardReaderBase):
    """An in-memory reader for demo, training and unit tests.

    ``tap(uid, data)`` puts a card on it (the same UID tapped again keeps what was written),
    ``remove()`` pulls it, ``fail_next_write(after_blocks, cause)`` makes the next write fail
    part way (``removed`` also pulls the card), ``set_status(state)`` fakes a reader outage.
    Events are delivered on the thread that calls ``tap`` / ``remove`` / ``set_status``.
    """

    def __init__(
        self, settings: CardReaderSection | None = None, *, reader_name: str = "Simulated reader",
        master_key: bytes = b"",
    ) -> None:
        """Raises ConfigError for a short master key or a bad legacy key."""
        super().__init__()
        settings = settings or CardReaderSection(type="simulated")
        self.reader_name = reader_name
        self.keys = card_keys(settings.legacy_key_a, settings.legacy_key_b,
                              master_key or DEMO_CARD_MASTER_KEY.encode())
        self.cards: dict[bytes, SimulatedCard] = {}
        self._present: SimulatedCard | None = None
        self._fault: _WriteFault | None = None
        self._started = False
        self._lock = threading.RLock()
        self._wanted_status = ReaderStatus("ready", reader_name)

    def start(self) -> None:
        with self._lock:
            self._started = True
            self._emit(self._wanted_status)
            if self._present is not None and self._card is None and self._status.ready:
                self._emit(CardInserted(self._present.uid, self.reader_name))

    def stop(self) -> None:
        self._started = False

    # ---- driving it ----

    def tap(
        self,
        uid: bytes,
        data: bytes | None = None,
        *,
        key_a: bytes | None = None,
        key_b: bytes | None = None,
    ) -> SimulatedCard:
        """Put a card on the reader; ``data`` (48 bytes) replaces its token sector if given.

        A new card without ``key_a`` / ``key_b`` is a blank card (transport key).
        """
        with self._lock:
            if self._present is not None:
                self.remove()
            card = self.cards.get(uid)
            if card is None:
                card = SimulatedCard(uid)
                self.cards[uid] = card
            if data is not None:
                if len(data) != TOKEN_SIZE:
                    raise ValueError(f"a token sector holds {TOKEN_SIZE} bytes")
                card.data[:] = data
            if key_a is not None:
                card.key_a = key_a
            if key_b is not None:
                card.key_b = key_b
            self._present = card
            if self._status.ready:
                self._emit(CardInserted(uid, self.reader_name))
            return card

    def remove(self) -> None:
        with self._lock:
            self._present = None
            self._card_gone()

    def fail_next_write(
        self, after_blocks: int = 1, cause: Literal["removed", "error", "verify"] = "removed"
    ) -> None:
        """Make the next write fail after ``after_blocks`` of its 3 blocks were written."""
        with self._lock:
            self._fault = _WriteFault(after_blocks, cause)

    def set_status(self, state: ReaderState, detail: str = "") -> None:
        """Fake a reader outage (or its end); a card on the reader is lost while not ready."""
        with self._lock:
            self._wanted_status = ReaderStatus(state, detail or self.reader_name)
            if state != "ready":
                self._present = None
                self._card_gone()
            if self._started:
                self._emit(self._wanted_status)
                if state == "ready" and self._present is not None and self._card is None:
                    self._emit(CardInserted(self._present.uid, self.reader_name))

    # ---- CardWriter ----

    def _card_for(self, uid: bytes) -> SimulatedCard:
        if not self._started or not self._status.ready:
            raise ReaderUnavailable("card.reader_unavailable", f"reader is {self._status.state}")
        card = self._present
        if card is None:
            raise CardRemovedError("card.removed", "no card on the reader")
        if card.uid != uid:
            raise CardRemovedError("card.other_card", f"card {card.uid.hex()} is on the reader")
        return card

    @staticmethod
    def _opens(card: SimulatedCard, key: bytes, role: KeyRole) -> bool:
        return key == (card.key_a if role == "A" else card.key_b)

    def read_token(self, uid: bytes) -> bytes:
        with self._lock:
            card = self._card_for(uid)
            if not any(self._opens(card, key, "A") for _, key in self.keys.read_keys(uid)):
                raise CardAuthError("card.auth_failed", f"card {card.uid.hex()} refused every key A")
            return bytes(card.data)

    def write_token(self, uid: bytes, data: bytes) -> None:
        if len(data) != TOKEN_SIZE:
            raise ValueError(f"a token has {TOKEN_SIZE} bytes, got {len(data)}")
        with self._lock:
            try:
                card = self._card_for(uid)
                scheme = next((scheme for scheme, key, role in self.keys.write_keys(uid)
                               if self._opens(card, key, role)), None)
                if scheme is None:
                    raise CardAuthError("card.auth_failed", f"card {card.uid.hex()} refused every key")
                fault, self._fault = self._fault, None
                for block in range(BLOCKS_PER_TOKEN):
                    if fault is not None and block == fault.after_blocks and fault.cause != "verify":
                        if fault.cause == "removed":
                            self.remove()
                            raise CardRemovedError("card.removed", "card pulled during the write")
                        raise CardError("card.error", "simulated write failure")
                    start = block * BLOCK_SIZE
                    card.data[start:start + BLOCK_SIZE] = data[start:start + BLOCK_SIZE]
                if fault is not None and fault.cause == "verify":
                    card.data[0] ^= 0xFF
                own = self.keys.for_card(uid)
                if scheme != "card":  # the token first, then the card's own keys
                    card.key_a, card.key_b = own.key_a, own.key_b
                if not (self._opens(card, own.key_b, "B") and self._opens(card, own.key_a, "A")):
                    raise CardAuthError("card.auth_failed", f"card {card.uid.hex()} refused its own keys")
                if bytes(card.data) != data:
                    raise CardWriteError("card.write_verify_failed", "read-back differs")
            except CardError as err:
                raise write_error_from(err) from err
