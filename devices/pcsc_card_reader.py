"""The real card reader: a contactless PC/SC reader through pcscd, with pyscard.

One supervised monitor thread owns a PC/SC context and waits in ``SCardGetStatusChange`` with a
short timeout (``poll_interval_s``), so a tap is seen as soon as pcscd reports it and ``stop()``
returns quickly (``SCardCancel``). When pcscd goes away, the reader is unplugged or anything in
the loop fails, the thread reports it (``ReaderStatus`` ``recovering`` / ``no_service`` /
``no_reader``), drops the context and builds a new one until the reader is back (``ready``).
pyscard's own CardMonitor is not used: its thread dies for good when pcscd restarts.

Card I/O (``read_token``, ``write_token``) runs on the caller's thread with its own
short-lived context and connection inside a PC/SC transaction, serialised by a lock. The token
sector is read and written with the PC/SC part 3 storage-card commands: LOAD KEYS ``FF 82``,
GENERAL AUTHENTICATE ``FF 86``, READ BINARY ``FF B0``, UPDATE BINARY ``FF D6``; the UID comes
from GET DATA ``FF CA 00 00 00``. pcsclite errors are raised as pyscard exceptions inside this
module and wrapped into ``CardError`` subclasses at its edge (``raise ... from err``).

Keys (``library_core.mifare``): each candidate key is tried in a session of its own, because a
MIFARE Classic card refuses everything after a failed authentication until it is selected again
(the session ends with ``SCARD_RESET_CARD``). The scheme that worked last for a UID is tried
first next time, so the blank card just read with the transport key is written without a
detour, and an issued card costs one authentication per operation.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

from config.settings import CardReaderSection
from devices.card_reader import (
    BLOCK_SIZE,
    BLOCKS_PER_TOKEN,
    CardAuthError,
    CardError,
    CardInserted,
    CardReaderBase,
    CardRemovedError,
    CardWriteError,
    ReaderStatus,
    ReaderUnavailable,
    card_keys,
    tried_first,
    write_error_from,
)
from library_core.mifare import KeyScheme, SectorKeys, library_trailer
from library_core.tokens import TOKEN_SIZE

log = logging.getLogger(__name__)

KEY_A = 0x60
KEY_B = 0x61
SLOT_A = 0x00
SLOT_B = 0x01
_MASK = 0xFFFFFFFF
# How long a card just put on the reader is asked for its UID before it is ignored until tapped
# again. A time, not a number of polls: a busy machine (or a slow reader powering the card up)
# can fail ten quick connects in half a second, and the reader's tap would be lost.
UID_READ_S = 3.0


def _scard() -> Any:
    """pyscard's low-level module (an optional extra: imported when a PC/SC reader is built)."""
    from smartcard import scard

    return scard


def _code(hresult: int) -> int:
    return hresult & _MASK


def _pcsc_error(what: str, hresult: int) -> Exception:
    """pyscard's exception for a failed pcsclite call (carries ``hresult``); wrapped at the edge."""
    from smartcard.pcsc.PCSCExceptions import BaseSCardException

    error: Exception = BaseSCardException(hresult=_code(hresult), message=what)
    return error


def _pcsc_errors() -> tuple[type[Exception], ...]:
    """What pyscard raises: its exception classes and the SWIG module's ``error``."""
    from smartcard.Exceptions import SmartcardException
    from smartcard.pcsc.PCSCExceptions import BaseSCardException

    return (BaseSCardException, SmartcardException, _scard().error)


def _card_or_pcsc_errors() -> tuple[type[Exception], ...]:
    return (CardError, *_pcsc_errors())


class _Session:
    """One connected card inside a transaction: APDUs for the token sector."""

    def __init__(self, scard: Any, hcard: int, protocol: int, sector: int) -> None:
        self.scard = scard
        self.hcard = hcard
        self.protocol = protocol
        self.sector = sector
        self.auth_failed = False
        self.written = 0  # blocks written in this session

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        hresult, response = self.scard.SCardTransmit(self.hcard, self.protocol, list(apdu))
        if _code(hresult) != 0:
            raise _pcsc_error("transmit", hresult)
        if len(response) < 2:  # vpcd answers nothing when the card vanished mid-command
            raise CardRemovedError("card.removed", f"no answer to {apdu[:2].hex()}")
        body = bytes(response[:-2])
        return body, (response[-2] << 8) | response[-1]

    def uid(self) -> bytes:
        body, sw = self.transmit(bytes.fromhex("FFCA000000"))
        if sw != 0x9000 or not body:
            raise CardError("card.unreadable", f"GET DATA UID answered {sw:04X}")
        return body

    def _blocks(self) -> list[int]:
        first = self.sector * 4
        return [first + i for i in range(BLOCKS_PER_TOKEN)]

    def authenticate(self, key: bytes, key_type: int) -> None:
        slot = SLOT_A if key_type == KEY_A else SLOT_B
        _, sw = self.transmit(bytes([0xFF, 0x82, 0x00, slot, 0x06]) + key)
        if sw != 0x9000:
            raise CardError("card.reader_error", f"LOAD KEYS answered {sw:04X}")
        block = self._blocks()[0]
        _, sw = self.transmit(bytes([0xFF, 0x86, 0x00, 0x00, 0x05, 0x01, 0x00, block, key_type, slot]))
        if sw != 0x9000:
            self.auth_failed = True
            name = "A" if key_type == KEY_A else "B"
            raise CardAuthError(
                "card.auth_failed", f"sector {self.sector} refused key {name} (SW {sw:04X})"
            )

    def read_sector(self) -> bytes:
        data = b""
        for block in self._blocks():
            body, sw = self.transmit(bytes([0xFF, 0xB0, 0x00, block, BLOCK_SIZE]))
            if sw == 0x6982:
                raise CardAuthError("card.auth_failed", f"reading block {block} is not allowed")
            if sw != 0x9000 or len(body) != BLOCK_SIZE:
                raise CardError("card.unreadable", f"READ BINARY block {block} answered {sw:04X}")
            data += body
        return data

    def write_sector(self, data: bytes) -> None:
        for i, block in enumerate(self._blocks()):
            chunk = data[i * BLOCK_SIZE:(i + 1) * BLOCK_SIZE]
            _, sw = self.transmit(bytes([0xFF, 0xD6, 0x00, block, BLOCK_SIZE]) + chunk)
            if sw == 0x6982:
                raise CardAuthError("card.auth_failed", f"writing block {block} is not allowed")
            if sw != 0x9000:
                raise CardError("card.write_failed", f"UPDATE BINARY block {block} answered {sw:04X}")
            self.written += 1

    def write_trailer(self, trailer: bytes) -> None:
        block = self.sector * 4 + 3
        _, sw = self.transmit(bytes([0xFF, 0xD6, 0x00, block, BLOCK_SIZE]) + trailer)
        if sw == 0x6982:
            raise CardAuthError("card.auth_failed", f"writing the trailer block {block} is not allowed")
        if sw != 0x9000:
            raise CardError("card.write_failed", f"UPDATE BINARY trailer {block} answered {sw:04X}")
        self.written += 1


class PcscCardReader(CardReaderBase):
    """A PC/SC contactless reader with MIFARE Classic cards (see the module docstring)."""

    def __init__(self, settings: CardReaderSection, *, master_key: bytes) -> None:
        """Raises ConfigError for a missing or short master key or a bad legacy key."""
        super().__init__()
        self.settings = settings
        self.keys = card_keys(settings.legacy_key_a, settings.legacy_key_b, master_key)
        self._hint: tuple[bytes, KeyScheme] | None = None  # (uid, the scheme that worked last)
        self.sector = settings.sector
        self.poll_interval_s = max(0.02, settings.poll_interval_s)
        self._reader: str | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._context: int | None = None
        self._context_lock = threading.Lock()
        self._io_lock = threading.Lock()

    # ---- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        _scard()  # fail now, not in the thread, if pyscard is missing
        self._stopping.clear()
        self._thread = threading.Thread(target=self._supervise, name="card-monitor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        with self._context_lock:
            if self._context is not None:
                _scard().SCardCancel(self._context)
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(self.poll_interval_s + 5.0)
            if thread.is_alive():
                log.warning("card monitor thread did not stop in time")
        self._thread = None

    # ---- the monitor thread ------------------------------------------------------------------

    def _supervise(self) -> None:
        retry = min(1.0, max(0.2, self.poll_interval_s * 2))
        while not self._stopping.is_set():
            try:
                self._monitor()
            except _pcsc_errors() as err:
                log.warning("card monitor lost pcscd: %s", err)
                self._outage("recovering", str(err))
            except Exception as err:  # supervise: whatever broke, rebuild the context
                log.exception("card monitor failed")
                self._outage("recovering", f"{type(err).__name__}: {err}")
            self._stopping.wait(retry)
        log.debug("card monitor stopped")

    def _outage(self, state: Literal["no_reader", "no_service", "recovering"], detail: str) -> None:
        self._reader = None
        self._card_gone()
        self._emit(ReaderStatus(state, detail))

    def _pick_reader(self, readers: list[str]) -> str | None:
        wanted = self.settings.reader_name.casefold()
        for name in readers:
            if wanted in name.casefold():
                return name
        return None

    def _monitor(self) -> None:
        scard = _scard()
        hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        if _code(hresult) != 0:
            self._outage("no_service", str(_pcsc_error("establish context", hresult)))
            return
        with self._context_lock:
            self._context = context
        try:
            self._watch(scard, context)
        finally:
            with self._context_lock:
                self._context = None
            scard.SCardReleaseContext(context)

    def _watch(self, scard: Any, context: int) -> None:
        timeout_ms = int(self.poll_interval_s * 1000)
        lost_context = {
            _code(scard.SCARD_E_NO_SERVICE),
            _code(scard.SCARD_E_SERVICE_STOPPED),
            _code(scard.SCARD_E_INVALID_HANDLE),
            _code(scard.SCARD_F_COMM_ERROR),
        }
        reader_gone = {_code(scard.SCARD_E_UNKNOWN_READER), _code(scard.SCARD_E_READER_UNAVAILABLE)}
        reader: str | None = None
        state = scard.SCARD_STATE_UNAWARE
        last_events: int | None = None
        uid_until: float | None = None  # a card that gave no UID yet is asked again until then
        while not self._stopping.is_set():
            if reader is None:
                hresult, readers = scard.SCardListReaders(context, [])
                code = _code(hresult)
                if code == _code(scard.SCARD_E_NO_READERS_AVAILABLE):
                    readers = []
                elif code != 0:
                    raise _pcsc_error("list readers", hresult)
                reader = self._pick_reader(list(readers))
                if reader is None:
                    self._outage("no_reader", f"no reader matching {self.settings.reader_name!r}")
                    self._stopping.wait(self.poll_interval_s)
                    continue
                state, last_events, uid_until = scard.SCARD_STATE_UNAWARE, None, None
                self._reader = reader
                self._emit(ReaderStatus("ready", reader))
            hresult, states = scard.SCardGetStatusChange(context, timeout_ms, [(reader, state)])
            code = _code(hresult)
            if code == _code(scard.SCARD_E_CANCELLED):
                continue
            if code in reader_gone:
                self._outage("no_reader", f"{reader} went away")
                reader = None
                continue
            if code == _code(scard.SCARD_E_TIMEOUT):
                event_state = state  # nothing changed; look again at a card without a UID
            elif code in lost_context or code != 0:
                raise _pcsc_error("wait for card", hresult)
            else:
                event_state = states[0][1]
                state = event_state & ~scard.SCARD_STATE_CHANGED
            if event_state & (scard.SCARD_STATE_UNKNOWN | scard.SCARD_STATE_UNAVAILABLE):
                self._outage("no_reader", f"{reader} went away")
                reader = None
                continue
            present = bool(event_state & scard.SCARD_STATE_PRESENT) and not (
                event_state & scard.SCARD_STATE_MUTE
            )
            events = (event_state >> 16) & 0xFFFF
            if not present:
                self._card_gone()
                uid_until = None
            elif events != last_events:  # a new card (or another card replaced it unseen)
                self._card_gone()
                uid_until = time.monotonic() + UID_READ_S
            if present and self._card is None and uid_until is not None:
                uid = self._read_uid(scard, context, reader)
                if uid:
                    uid_until = None
                    self._emit(CardInserted(uid, reader))
                elif time.monotonic() >= uid_until:
                    uid_until = None
                    log.warning("card on %s gave no UID for %.1f s; ignoring it until it is tapped "
                                "again", reader, UID_READ_S)
            last_events = events

    def _read_uid(self, scard: Any, context: int, reader: str) -> bytes | None:
        """The UID of the card just put on ``reader``, or None when it cannot be read."""
        with self._io_lock:
            hresult, hcard, protocol = scard.SCardConnect(
                context, reader, scard.SCARD_SHARE_SHARED,
                scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1,
            )
            if _code(hresult) != 0:
                log.info("card on %s could not be connected: %s", reader, _pcsc_error("connect", hresult))
                return None
            try:
                return _Session(scard, hcard, protocol, self.sector).uid()
            except _card_or_pcsc_errors() as err:
                log.info("card on %s gave no UID: %s", reader, err)
                return None
            finally:
                scard.SCardDisconnect(hcard, scard.SCARD_LEAVE_CARD)

    # ---- card I/O ----------------------------------------------------------------------------

    def _wrap(self, err: Exception) -> CardError:
        scard = _scard()
        code = _code(getattr(err, "hresult", 0) or 0)
        if code in {_code(c) for c in (
            scard.SCARD_E_NO_SERVICE, scard.SCARD_E_SERVICE_STOPPED, scard.SCARD_E_UNKNOWN_READER,
            scard.SCARD_E_READER_UNAVAILABLE, scard.SCARD_E_NO_READERS_AVAILABLE,
        )}:
            return ReaderUnavailable("card.reader_unavailable", str(err))
        if code in {_code(c) for c in (
            scard.SCARD_E_NO_SMARTCARD, scard.SCARD_W_REMOVED_CARD, scard.SCARD_E_NOT_TRANSACTED,
            scard.SCARD_W_RESET_CARD, scard.SCARD_W_UNPOWERED_CARD, scard.SCARD_W_UNRESPONSIVE_CARD,
            scard.SCARD_E_INVALID_HANDLE, scard.SCARD_F_COMM_ERROR,
        )}:
            return CardRemovedError("card.removed", str(err))
        return CardError("card.error", str(err))

    @contextmanager
    def _session(self, uid: bytes) -> Iterator[_Session]:
        """Connect to the card with ``uid`` inside a transaction. Raises CardError subclasses."""
        scard = _scard()
        with self._io_lock:
            try:
                hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
                if _code(hresult) != 0:
                    raise _pcsc_error("establish context", hresult)
                try:
                    reader = self._reader
                    if reader is None:
                        hresult, readers = scard.SCardListReaders(context, [])
                        reader = self._pick_reader(list(readers)) if _code(hresult) == 0 else None
                        if reader is None:
                            raise ReaderUnavailable("card.reader_unavailable", "no reader")
                    hresult, hcard, protocol = scard.SCardConnect(
                        context, reader, scard.SCARD_SHARE_SHARED,
                        scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1,
                    )
                    if _code(hresult) != 0:
                        raise _pcsc_error("connect", hresult)
                    session = _Session(scard, hcard, protocol, self.sector)
                    try:
                        hresult = scard.SCardBeginTransaction(hcard)
                        if _code(hresult) != 0:
                            raise _pcsc_error("begin transaction", hresult)
                        try:
                            found = session.uid()
                            if found != uid:
                                raise CardRemovedError(
                                    "card.other_card", f"card {found.hex()} is on the reader"
                                )
                            yield session
                        finally:
                            scard.SCardEndTransaction(hcard, scard.SCARD_LEAVE_CARD)
                    finally:
                        # after a refused key a MIFARE card must be re-selected: reset it
                        disposition = scard.SCARD_RESET_CARD if session.auth_failed else scard.SCARD_LEAVE_CARD
                        scard.SCardDisconnect(hcard, disposition)
                finally:
                    scard.SCardReleaseContext(context)
            except _pcsc_errors() as err:
                raise self._wrap(err) from err

    def _scheme_hint(self, uid: bytes) -> KeyScheme | None:
        hint = self._hint
        return hint[1] if hint is not None and hint[0] == uid else None

    def read_token(self, uid: bytes) -> bytes:
        last: CardAuthError | None = None
        for scheme, key in tried_first(self.keys.read_keys(uid), lambda c: c[0], self._scheme_hint(uid)):
            try:
                with self._session(uid) as session:
                    session.authenticate(key, KEY_A)
                    data = session.read_sector()
            except CardAuthError as err:
                last = err
                continue
            self._hint = (uid, scheme)
            if scheme != "card":
                log.info("card %s read with the %s key", uid.hex(), scheme)
            return data
        raise CardAuthError(
            "card.auth_failed", f"sector {self.sector} of card {uid.hex()} refused its own, the "
            f"legacy and the transport key A ({last.detail if last else ''})") from last

    def write_token(self, uid: bytes, data: bytes) -> None:
        if len(data) != TOKEN_SIZE:
            raise ValueError(f"a token has {TOKEN_SIZE} bytes, got {len(data)}")
        target = self.keys.for_card(uid)
        try:
            back = self._write(uid, data, target)
        except CardError as err:
            log.warning("writing the token to card %s failed: %s", uid.hex(), err)
            raise write_error_from(err) from err
        if back != data:
            raise CardWriteError("card.write_verify_failed", f"card {uid.hex()} read back other data")
        log.info("token written to card %s and verified", uid.hex())

    def _write(self, uid: bytes, data: bytes, target: SectorKeys) -> bytes:
        """Write the token with the first key that may, re-key the card, read it back."""
        last: CardAuthError | None = None
        candidates = tried_first(self.keys.write_keys(uid), lambda c: c[0], self._scheme_hint(uid))
        for scheme, key, role in candidates:
            with self._session(uid) as session:
                try:
                    session.authenticate(key, KEY_B if role == "B" else KEY_A)
                    session.write_sector(data)
                except CardAuthError as err:
                    if session.written:
                        raise  # part of the token landed: no other key makes that right
                    last = err
                    continue
                if scheme != "card":  # the token first, then the card's own keys
                    session.write_trailer(library_trailer(target))
                    log.info("card %s re-keyed from the %s key to its own keys", uid.hex(), scheme)
                session.authenticate(target.key_b, KEY_B)
                session.authenticate(target.key_a, KEY_A)
                back = session.read_sector()
            self._hint = (uid, "card")
            return back
        raise CardAuthError(
            "card.auth_failed", f"sector {self.sector} of card {uid.hex()} refused its own, the "
            f"legacy and the transport key ({last.detail if last else ''})") from last
