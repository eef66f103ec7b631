"""Smart-card reader: the port, its events and errors, and the plumbing the drivers share.

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

The keys are per card (``library_core.mifare``): both drivers hold a ``CardKeys`` (the card
master key from ``Settings.card_master_key`` and the legacy key pair from config) and try, in
order, the card's diversified key, the legacy key and the transport key; a write that did not
use the diversified key B re-keys the card (trailer with the diversified keys and the library
access bits) after writing the token.

Errors are ``CardError`` subclasses with message ids in the ``card`` catalog; library errors are
wrapped where they occur (``raise CardRemovedError(...) from err``). ``write_token`` raises only
``CardWriteError`` (its message id names the cause: removed, auth, verify).

The drivers: ``devices.pcsc_card_reader.PcscCardReader`` (pyscard, an optional extra) and
``devices.simulated_card_reader.SimulatedCardReader``; ``devices.factory.build_card_reader``
picks one by ``settings.type``. This module imports neither driver. Subscribers are
``library_core.observable`` subscribers: ordered delivery, the current state at once, an
unsubscribe handle.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, TypeVar, runtime_checkable

from library_core.errors import ConfigError, DeviceError
from library_core.mifare import CardKeys, KeyScheme
from library_core.observable import EventSource
from library_core.tokens import TOKEN_SIZE

log = logging.getLogger(__name__)

BLOCK_SIZE = 16
BLOCKS_PER_TOKEN = TOKEN_SIZE // BLOCK_SIZE

ReaderState = Literal["ready", "no_reader", "no_service", "recovering"]
_T = TypeVar("_T")


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


def card_keys(legacy_key_a: str, legacy_key_b: str, master_key: bytes) -> CardKeys:
    """The driver's keys. Raises ConfigError (``CARD_MASTER_KEY`` missing or short, a bad legacy key)."""
    if not master_key:
        raise ConfigError("CARD_MASTER_KEY", "a card reader needs the card master key")
    return CardKeys.from_config(master_key, legacy_key_a, legacy_key_b)


def tried_first(candidates: Sequence[_T], scheme_of: Callable[[_T], KeyScheme],
                hint: KeyScheme | None) -> list[_T]:
    """``candidates`` with those of scheme ``hint`` (the one that worked last) moved first."""
    if hint is None:
        return list(candidates)
    return sorted(candidates, key=lambda c: scheme_of(c) != hint)  # stable: order kept otherwise


class CardReaderBase(EventSource[CardEvent]):
    """Subscribers, status and card tracking shared by the drivers."""

    def __init__(self) -> None:
        super().__init__(name="card reader")
        self._status = ReaderStatus("recovering", "not started")
        self._card: CardInserted | None = None

    @property
    def status(self) -> ReaderStatus:
        return self._status

    def current_uid(self) -> bytes | None:
        card = self._card
        return card.uid if card is not None else None

    def current_events(self) -> Sequence[CardEvent]:
        """The status, then the card on the reader if there is one."""
        card = self._card
        return (self._status,) if card is None else (self._status, card)

    def _emit(self, event: CardEvent) -> None:
        with self._ordered():
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
            self.publish(event)

    def _card_gone(self) -> None:
        with self._ordered():
            card = self._card
            if card is not None:
                self._emit(CardRemoved(card.reader))


__all__ = [
    "BLOCKS_PER_TOKEN",
    "BLOCK_SIZE",
    "CardAuthError",
    "CardError",
    "CardEvent",
    "CardInserted",
    "CardReader",
    "CardReaderBase",
    "CardRemoved",
    "CardRemovedError",
    "CardWriteError",
    "ReaderState",
    "ReaderStatus",
    "ReaderUnavailable",
    "Subscriber",
    "card_keys",
    "tried_first",
    "write_error_from",
]
