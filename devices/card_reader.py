"""Smart-card reader: the port, its events and errors, the simulator, and the factory.

A reader reports what happens on it as frozen dataclass events delivered to subscribers:
``CardInserted(uid, reader)``, ``CardRemoved(reader)`` and ``ReaderStatus(state, detail)`` with
``state`` one of ``ready``, ``no_reader`` (no matching reader plugged in), ``no_service`` (pcscd
is not running) or ``recovering`` (the reader or pcscd just failed; the driver is reconnecting).
A new subscriber is told the current status (and the card on the reader, if any) at once.
Events arrive on the reader's own thread (the monitor thread for ``PcscCardReader``, the caller's
thread for ``SimulatedCardReader``): a UI must hop to its own thread itself, and callbacks must
return quickly.

Every reader also implements ``kiosk.services.ports.CardWriter``: ``current_uid()``,
``read_token(uid)`` (the 48 token bytes, read with key A) and ``write_token(uid, data)``
(written with key B, then read back with key A and compared). What the bytes mean is not the
reader's business: ``library_core.tokens`` decodes them and the card service decides.

Errors are ``CardError`` subclasses with message ids in the ``card`` catalog; library errors are
wrapped where they occur (``raise CardRemovedError(...) from err``). ``write_token`` raises only
``CardWriteError`` (its message id names the cause: removed, auth, verify).

``build_card_reader(settings.card_reader)`` picks the class by ``type`` (``pcsc`` or
``simulated``); ``pcsc`` imports pyscard only then.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from config.settings import CardReaderSection
from library_core.errors import ConfigError, DeviceError
from library_core.tokens import TOKEN_SIZE

if TYPE_CHECKING:
    from devices.pcsc_card_reader import PcscCardReader

log = logging.getLogger(__name__)

BLOCK_SIZE = 16
BLOCKS_PER_TOKEN = TOKEN_SIZE // BLOCK_SIZE

ReaderState = Literal["ready", "no_reader", "no_service", "recovering"]


# ---- events ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CardInserted:
    """A card was put on the reader; ``uid`` is its UID (4 or 7 bytes)."""

    uid: bytes
    reader: str


@dataclass(frozen=True, slots=True)
class CardRemoved:
    """The card left the reader (pulled, or the reader / pcscd went away)."""

    reader: str


@dataclass(frozen=True, slots=True)
class ReaderStatus:
    """Whether the reader can be used; ``detail`` is for logs and diagnostics, not for readers."""

    state: ReaderState
    detail: str = ""

    @property
    def ready(self) -> bool:
        return self.state == "ready"

    @property
    def message_id(self) -> str:
        return f"card.status.{self.state}"


CardEvent = CardInserted | CardRemoved | ReaderStatus
Subscriber = Callable[[CardEvent], None]


# ---- errors ------------------------------------------------------------------------------------


class CardError(DeviceError):
    """The card or the reader failed."""

    message_id = "card.error"


class CardAuthError(CardError):
    """The card refused the sector key (wrong key, or the key may not do this)."""

    message_id = "card.auth_failed"


class CardWriteError(CardError):
    """Writing the token failed or did not read back the same; the card is not issued."""

    message_id = "card.write_failed"


class CardRemovedError(CardError):
    """The card left the reader (or another card is on it) during the operation."""

    message_id = "card.removed"


class ReaderUnavailable(CardError):
    """No reader, or pcscd is not running."""

    message_id = "card.reader_unavailable"


def write_error_from(err: CardError) -> CardWriteError:
    """The ``CardWriteError`` for a failure during a write, naming its cause in the message id."""
    if isinstance(err, CardWriteError):
        return err
    if isinstance(err, CardRemovedError):
        return CardWriteError("card.write_removed", err.detail)
    if isinstance(err, CardAuthError):
        return CardWriteError("card.write_auth_failed", err.detail)
    if isinstance(err, ReaderUnavailable):
        return CardWriteError("card.write_reader_unavailable", err.detail)
    return CardWriteError("card.write_failed", err.detail)


# ---- the port ----------------------------------------------------------------------------------


@runtime_checkable
class CardReader(Protocol):
    """A contactless reader with MIFARE Classic cards (implements ``ports.CardWriter``)."""

    @property
    def status(self) -> ReaderStatus: ...

    def start(self) -> None:
        """Start watching the reader (idempotent)."""
        ...

    def stop(self) -> None:
        """Stop watching; returns within a few seconds."""
        ...

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback`` with every event; it is told the current state at once.

        Returns a function that unsubscribes.
        """
        ...

    def current_uid(self) -> bytes | None: ...

    def read_token(self, uid: bytes) -> bytes:
        """The 48 bytes of the token sector, read with key A. Raises CardError subclasses."""
        ...

    def write_token(self, uid: bytes, data: bytes) -> None:
        """Write 48 bytes with key B, read back with key A and compare. Raises CardWriteError."""
        ...


# ---- shared plumbing ---------------------------------------------------------------------------


class CardReaderBase:
    """Subscribers, status and card tracking shared by the drivers."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []
        self._subscribers_lock = threading.Lock()
        self._emit_lock = threading.RLock()  # delivers events one at a time, in order
        self._status = ReaderStatus("recovering", "not started")
        self._card: CardInserted | None = None

    @property
    def status(self) -> ReaderStatus:
        return self._status

    def current_uid(self) -> bytes | None:
        card = self._card
        return card.uid if card is not None else None

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        with self._emit_lock:
            with self._subscribers_lock:
                self._subscribers.append(callback)
            self._deliver(callback, self._status)
            if self._card is not None:
                self._deliver(callback, self._card)

        def unsubscribe() -> None:
            with self._subscribers_lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def _deliver(self, callback: Subscriber, event: CardEvent) -> None:
        try:
            callback(event)
        except Exception:  # a broken subscriber must not stop the reader
            log.exception("card event subscriber %r failed on %r", callback, event)

    def _emit(self, event: CardEvent) -> None:
        with self._emit_lock:
            if isinstance(event, ReaderStatus):
                if event == self._status:
                    return
                self._status = event
                log.info("card reader status: %s %s", event.state, event.detail)
            elif isinstance(event, CardInserted):
                self._card = event
                log.info("card inserted: %s on %s", event.uid.hex(), event.reader)
            else:
                if self._card is None:
                    return
                self._card = None
                log.info("card removed from %s", event.reader)
            with self._subscribers_lock:
                subscribers = list(self._subscribers)
            for callback in subscribers:
                self._deliver(callback, event)

    def _card_gone(self) -> None:
        card = self._card
        if card is not None:
            self._emit(CardRemoved(card.reader))


def parse_key(value: str, key: str) -> bytes:
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raw = b""
    if len(raw) != 6:
        raise ConfigError(f"card_reader.{key}", "must be 12 hex digits (a 6-byte MIFARE key)")
    return raw


# ---- the simulator -----------------------------------------------------------------------------


@dataclass
class SimulatedCard:
    """A card for the simulator: its UID, token sector and sector keys."""

    uid: bytes
    data: bytearray = field(default_factory=lambda: bytearray(TOKEN_SIZE))
    key_a: bytes = b"\xff" * 6
    key_b: bytes = b"\xff" * 6


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
        self, settings: CardReaderSection | None = None, *, reader_name: str = "Simulated reader"
    ) -> None:
        super().__init__()
        settings = settings or CardReaderSection(type="simulated")
        self.reader_name = reader_name
        self.key_a = parse_key(settings.key_a, "key_a")
        self.key_b = parse_key(settings.key_b, "key_b")
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
        """Put a card on the reader; ``data`` (48 bytes) replaces its token sector if given."""
        with self._lock:
            if self._present is not None:
                self.remove()
            card = self.cards.get(uid)
            if card is None:
                card = SimulatedCard(uid, key_a=key_a or self.key_a, key_b=key_b or self.key_b)
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

    def _check_key(self, card: SimulatedCard, which: Literal["A", "B"]) -> None:
        wanted = card.key_a if which == "A" else card.key_b
        have = self.key_a if which == "A" else self.key_b
        if wanted != have:
            raise CardAuthError("card.auth_failed", f"card {card.uid.hex()} refused key {which}")

    def read_token(self, uid: bytes) -> bytes:
        with self._lock:
            card = self._card_for(uid)
            self._check_key(card, "A")
            return bytes(card.data)

    def write_token(self, uid: bytes, data: bytes) -> None:
        if len(data) != TOKEN_SIZE:
            raise ValueError(f"a token has {TOKEN_SIZE} bytes, got {len(data)}")
        with self._lock:
            try:
                card = self._card_for(uid)
                self._check_key(card, "B")
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
                self._check_key(card, "A")
                if bytes(card.data) != data:
                    raise CardWriteError("card.write_verify_failed", "read-back differs")
            except CardError as err:
                raise write_error_from(err) from err


# ---- factory -----------------------------------------------------------------------------------


def build_card_reader(settings: CardReaderSection) -> CardReader:
    """The reader named by ``settings.type``. Raises ConfigError for an unknown type."""
    if settings.type == "simulated":
        return SimulatedCardReader(settings)
    if settings.type == "pcsc":
        from devices.pcsc_card_reader import PcscCardReader

        return PcscCardReader(settings)
    raise ConfigError("card_reader.type", f"unknown card reader type {settings.type!r}")


def __getattr__(name: str) -> Any:
    if name == "PcscCardReader":  # imported on demand: pyscard is an optional extra
        from devices.pcsc_card_reader import PcscCardReader

        return PcscCardReader
    raise AttributeError(name)


__all__ = [
    "CardAuthError",
    "CardError",
    "CardEvent",
    "CardInserted",
    "CardReader",
    "CardRemoved",
    "CardRemovedError",
    "CardWriteError",
    "PcscCardReader",
    "ReaderStatus",
    "ReaderUnavailable",
    "SimulatedCard",
    "SimulatedCardReader",
    "build_card_reader",
]
