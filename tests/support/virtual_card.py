"""A MIFARE Classic 1K card behind a contactless reader, plugged into pcscd's virtual reader.

The card speaks the vsmartcard-vpcd protocol to the "Virtual PCD 00 00" reader that pcscd
opens on 127.0.0.1:35963: every message is a 2-byte big-endian length and a payload; a 1-byte
payload is a control code (0 power off, 1 power on, 2 reset, 4 send the ATR), anything longer
is a command APDU answered with a response APDU. Connecting is tapping the card on the reader,
closing the socket is pulling it away.

It answers the PC/SC part 3 storage-card commands a contactless reader offers for MIFARE:

- ``FF CA 00 00 00``             GET DATA: the UID
- ``FF 82 00 <slot> 06 <key>``   LOAD KEYS into a volatile reader slot (0 or 1)
- ``FF 86 00 00 05 01 00 <block> <60|61> <slot>``  GENERAL AUTHENTICATE with key A / key B
- ``FF 88 00 <block> <60|61> <slot>``              AUTHENTICATE (the older form)
- ``FF B0 00 <block> 10``        READ BINARY, one 16-byte block
- ``FF D6 00 <block> 10 <16 bytes>``  UPDATE BINARY, one 16-byte block

Memory is 16 sectors x 4 blocks; the last block of each sector is its trailer (key A, access
bits, key B) and the access conditions of the MIFARE Classic data sheet are enforced (key A is
never readable; a key B that is readable cannot authenticate; each part of a trailer may be
changed only by the key the access bits name). As on a real card, a failed authentication halts
the card: every later authentication and block command is refused until the field is reset
(control code 0, 1 or 2, e.g. ``SCardDisconnect`` with ``SCARD_RESET_CARD``) or the card is
tapped again. Status words: ``90 00`` done,
``63 00`` authentication failed, ``69 82`` not authenticated / access denied, ``69 86`` not
allowed (manufacturer block, bad access bits), ``6A 82`` block out of range, ``67 00`` wrong
length, ``6D 00`` unknown instruction, ``6E 00`` class not supported.

Tests use it like a card in the hand::

    card = VirtualCard(bytes.fromhex("04A1B2C3"), sector=1, key_a=KA, key_b=KB)
    card.insert()          # tap (a thread connects to vpcd)
    card.remove()          # pull
    card.fail_after(3)     # answer 3 more APDUs, then vanish (pulled mid-write)
    card.fail_on(b"\xff\xd6\x00\x07")  # vanish on the first APDU starting so (trailer write)
    card.slow_uid(1.5)     # GET DATA (UID) answers 6F 00 for 1.5 s after each tap (powering up)
    card.sector_data(1)    # the 48 data bytes of sector 1, for assertions

The memory lives in the object, so ``insert()`` after ``remove()`` is the same card tapped
again; ``clone(uid)`` copies the memory onto another card (a copied card).
"""

from __future__ import annotations

import logging
import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

log = logging.getLogger(__name__)

VPCD_HOST = "127.0.0.1"
VPCD_PORT = 35963
# PC/SC part 3 ATR of a contactless storage card: RID A0 00 00 03 06, standard 03 (ISO 14443 A
# part 3), card name 00 01 (MIFARE Classic 1K).
MIFARE_1K_ATR = bytes.fromhex("3B8F8001804F0CA000000306030001000000006A")
TRANSPORT_KEY = b"\xff" * 6
BLOCK_SIZE = 16
SECTORS = 16
BLOCKS = SECTORS * 4

SW_OK = b"\x90\x00"
SW_NOT_READY = b"\x6f\x00"  # no precise diagnosis: what a card still powering up answers
SW_AUTH_FAILED = b"\x63\x00"
SW_WRONG_LENGTH = b"\x67\x00"
SW_SECURITY = b"\x69\x82"
SW_NOT_ALLOWED = b"\x69\x86"
SW_FUNC_NOT_SUPPORTED = b"\x6a\x81"
SW_OUT_OF_RANGE = b"\x6a\x82"
SW_WRONG_P1P2 = b"\x6b\x00"
SW_BAD_INS = b"\x6d\x00"
SW_BAD_CLA = b"\x6e\x00"

# Access conditions (C1, C2, C3) -> which keys may do it ("A", "B", "AB" or "" for never).
# Data blocks: (read, write).
_DATA_ACCESS: dict[tuple[int, int, int], tuple[str, str]] = {
    (0, 0, 0): ("AB", "AB"),
    (0, 1, 0): ("AB", ""),
    (1, 0, 0): ("AB", "B"),
    (1, 1, 0): ("AB", "B"),
    (0, 0, 1): ("AB", ""),
    (0, 1, 1): ("B", "B"),
    (1, 0, 1): ("B", ""),
    (1, 1, 1): ("", ""),
}
# Sector trailer: (write key A, read access bits, write access bits, read key B, write key B).
_TRAILER_ACCESS: dict[tuple[int, int, int], tuple[str, str, str, str, str]] = {
    (0, 0, 0): ("A", "A", "", "A", "A"),
    (0, 1, 0): ("", "A", "", "A", ""),
    (1, 0, 0): ("B", "AB", "", "", "B"),
    (1, 1, 0): ("", "AB", "", "", ""),
    (0, 0, 1): ("A", "A", "A", "A", "A"),
    (0, 1, 1): ("B", "AB", "B", "", "B"),
    (1, 0, 1): ("", "AB", "B", "", ""),
    (1, 1, 1): ("", "AB", "", "", ""),
}
TRANSPORT_ACCESS = ((0, 0, 0), (0, 0, 0), (0, 0, 0), (0, 0, 1))
# The library's token sector: key A reads only, key B reads and writes data and trailer.
LIBRARY_ACCESS = ((1, 0, 0), (1, 0, 0), (1, 0, 0), (0, 1, 1))


def encode_access_bits(conditions: tuple[tuple[int, int, int], ...], gpb: int = 0x69) -> bytes:
    """The 4 access bytes (6-9) of a sector trailer for per-block (C1, C2, C3) conditions."""
    c1 = c2 = c3 = 0
    for block, (b1, b2, b3) in enumerate(conditions):
        c1 |= b1 << block
        c2 |= b2 << block
        c3 |= b3 << block
    byte6 = ((~c2 & 0xF) << 4) | (~c1 & 0xF)
    byte7 = (c1 << 4) | (~c3 & 0xF)
    byte8 = (c3 << 4) | c2
    return bytes([byte6, byte7, byte8, gpb])


def decode_access_bits(data: bytes) -> tuple[tuple[int, int, int], ...] | None:
    """Per-block (C1, C2, C3) from access bytes 6-8, or None when they are inconsistent."""
    b6, b7, b8 = data[0], data[1], data[2]
    c1, c2, c3 = b7 >> 4, b8 & 0xF, b8 >> 4
    if (b6 & 0xF) != (~c1 & 0xF) or (b6 >> 4) != (~c2 & 0xF) or (b7 & 0xF) != (~c3 & 0xF):
        return None
    return tuple(((c1 >> b) & 1, (c2 >> b) & 1, (c3 >> b) & 1) for b in range(4))


def _bcc(uid: bytes) -> int:
    value = 0
    for b in uid:
        value ^= b
    return value


class VirtualCard:
    """A MIFARE Classic 1K card to tap on pcscd's virtual reader (see the module docstring)."""

    def __init__(
        self,
        uid: bytes,
        *,
        sector: int = 1,
        key_a: bytes = TRANSPORT_KEY,
        key_b: bytes = TRANSPORT_KEY,
        library_access: bool = True,
        host: str = VPCD_HOST,
        port: int = VPCD_PORT,
        atr: bytes = MIFARE_1K_ATR,
    ) -> None:
        if len(uid) not in (4, 7):
            raise ValueError("a MIFARE Classic UID has 4 (or 7) bytes")
        if len(key_a) != 6 or len(key_b) != 6:
            raise ValueError("MIFARE keys have 6 bytes")
        self.uid = bytes(uid)
        self.host = host
        self.port = port
        self.atr = atr
        self._lock = threading.RLock()
        self.memory = bytearray(BLOCKS * BLOCK_SIZE)
        manufacturer = self.uid + bytes([_bcc(self.uid), 0x08, 0x04, 0x00]) if len(uid) == 4 else (
            self.uid + bytes([0x08, 0x44, 0x00])
        )
        self.memory[0:BLOCK_SIZE] = manufacturer.ljust(BLOCK_SIZE, b"\x62")
        for s in range(SECTORS):
            self.set_trailer(s, TRANSPORT_KEY, TRANSPORT_ACCESS, TRANSPORT_KEY)
        if library_access:
            self.set_trailer(sector, key_a, LIBRARY_ACCESS, key_b)
        else:
            self.set_trailer(sector, key_a, TRANSPORT_ACCESS, key_b)
        self.apdus: list[bytes] = []  # every command APDU received, for assertions
        self._slots: dict[int, bytes] = {}
        self._auth: tuple[int, str] | None = None  # (sector, "A" | "B")
        self._fail_after: int | None = None
        self._fail_on: bytes | None = None
        self._fail_on_skip = 0
        self._uid_slow_s = 0.0
        self._uid_ready_at = 0.0  # time.monotonic() after which GET DATA gives the UID
        self._halted = False  # a failed authentication: nothing works until the field resets
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._connected = threading.Event()
        self._closed = threading.Event()
        self._closed.set()

    # ---- memory, for set-up and assertions -------------------------------------------------

    def block(self, number: int) -> bytes:
        with self._lock:
            return bytes(self.memory[number * BLOCK_SIZE:(number + 1) * BLOCK_SIZE])

    def set_block(self, number: int, data: bytes) -> None:
        if len(data) != BLOCK_SIZE:
            raise ValueError("a block has 16 bytes")
        with self._lock:
            self.memory[number * BLOCK_SIZE:(number + 1) * BLOCK_SIZE] = data

    def sector_data(self, sector: int) -> bytes:
        """The three data blocks (48 bytes) of a sector (sector 0: blocks 1-2 only, 32 bytes)."""
        first = 1 if sector == 0 else sector * 4
        return b"".join(self.block(b) for b in range(first, sector * 4 + 3))

    def set_sector_data(self, sector: int, data: bytes) -> None:
        blocks = range(1 if sector == 0 else sector * 4, sector * 4 + 3)
        if len(data) != BLOCK_SIZE * len(blocks):
            raise ValueError(f"sector {sector} holds {BLOCK_SIZE * len(blocks)} data bytes")
        for i, b in enumerate(blocks):
            self.set_block(b, data[i * BLOCK_SIZE:(i + 1) * BLOCK_SIZE])

    def set_trailer(
        self, sector: int, key_a: bytes, access: tuple[tuple[int, int, int], ...], key_b: bytes
    ) -> None:
        self.set_block(sector * 4 + 3, key_a + encode_access_bits(access) + key_b)

    def trailer(self, sector: int) -> tuple[bytes, tuple[tuple[int, int, int], ...], bytes]:
        raw = self.block(sector * 4 + 3)
        access = decode_access_bits(raw[6:9])
        assert access is not None
        return raw[0:6], access, raw[10:16]

    def clone(self, uid: bytes | None = None) -> VirtualCard:
        """A second card holding a copy of this card's memory (a copied card), with ``uid``."""
        other = VirtualCard(uid or self.uid, host=self.host, port=self.port, atr=self.atr)
        with self._lock:
            data = bytes(self.memory[BLOCK_SIZE:])
        with other._lock:
            other.memory[BLOCK_SIZE:] = data
        return other

    # ---- tapping -----------------------------------------------------------------------------

    @property
    def inserted(self) -> bool:
        return self._connected.is_set() and not self._closed.is_set()

    def insert(self, timeout: float = 10.0) -> None:
        """Tap the card: connect to vpcd (retrying while pcscd starts) and serve in a thread."""
        if self.inserted:
            raise RuntimeError("card is already on the reader")
        self.join(timeout)
        self._connected.clear()
        self._closed.clear()
        deadline = time.monotonic() + timeout
        sock: socket.socket | None = None
        while sock is None:
            try:
                sock = socket.create_connection((self.host, self.port), timeout=1.0)
            except OSError as err:
                if time.monotonic() > deadline:
                    self._closed.set()
                    raise TimeoutError(f"vpcd not reachable on {self.host}:{self.port}: {err}") from err
                time.sleep(0.05)
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._lock:
            self._sock = sock
            self._slots.clear()
            self._auth = None
            self._halted = False
            self._uid_ready_at = time.monotonic() + self._uid_slow_s
        self._connected.set()
        self._thread = threading.Thread(
            target=self._serve, args=(sock,), name=f"virtual-card-{self.uid.hex()}", daemon=True
        )
        self._thread.start()

    def remove(self, timeout: float = 5.0) -> None:
        """Pull the card off the reader: close the socket."""
        with self._lock:
            sock, self._sock = self._sock, None
        if sock is not None:
            self._close(sock)
        self.join(timeout)

    def join(self, timeout: float = 5.0) -> None:
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                raise TimeoutError("virtual card thread did not stop")

    def wait_removed(self, timeout: float) -> bool:
        """Block until the card left the reader (removed, vanished or pcscd gone)."""
        return self._closed.wait(timeout)

    def fail_after(self, n_commands: int) -> None:
        """Answer ``n_commands`` more command APDUs, then vanish on the next one (not executed)."""
        with self._lock:
            self._fail_after = n_commands

    def slow_uid(self, seconds: float) -> None:
        """From the next tap on, answer GET DATA (the UID) with ``6F 00`` for ``seconds`` after
        each tap: a card the reader is still powering up."""
        with self._lock:
            self._uid_slow_s = seconds

    def fail_on(self, prefix: bytes, *, skip: int = 0) -> None:
        """Vanish (not executing it) on a command APDU that starts with ``prefix``, after
        answering ``skip`` such commands."""
        with self._lock:
            self._fail_on = bytes(prefix)
            self._fail_on_skip = skip

    @contextmanager
    def tapped(self, timeout: float = 10.0) -> Iterator[VirtualCard]:
        self.insert(timeout)
        try:
            yield self
        finally:
            self.remove()

    def _close(self, sock: socket.socket) -> None:
        with suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()

    # ---- the vpcd protocol -------------------------------------------------------------------

    def _recv_exact(self, sock: socket.socket, n: int) -> bytes | None:
        chunks = b""
        while len(chunks) < n:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
            chunk = sock.recv(n - len(chunks))
            if not chunk:
                return None
            chunks += chunk
        return chunks

    def _serve(self, sock: socket.socket) -> None:
        try:
            while True:
                header = self._recv_exact(sock, 2)
                if header is None:
                    break
                (length,) = struct.unpack(">H", header)
                payload = self._recv_exact(sock, length)
                if payload is None:
                    break
                if length == 1:
                    answer = self._control(payload[0])
                else:
                    with self._lock:
                        if self._fail_after is not None:
                            if self._fail_after <= 0:
                                self._fail_after = None
                                log.info("virtual card %s vanishes before %s", self.uid.hex(), payload.hex())
                                break
                            self._fail_after -= 1
                        if self._fail_on is not None and payload.startswith(self._fail_on):
                            if self._fail_on_skip <= 0:
                                self._fail_on = None
                                log.info("virtual card %s vanishes before %s", self.uid.hex(),
                                         payload.hex())
                                break
                            self._fail_on_skip -= 1
                        self.apdus.append(payload)
                        answer = self.process_apdu(payload)
                if answer is not None:
                    sock.sendall(struct.pack(">H", len(answer)) + answer)
        except OSError as err:
            log.debug("virtual card %s socket closed: %s", self.uid.hex(), err)
        finally:
            with self._lock:
                if self._sock is sock:
                    self._sock = None
                self._auth = None
                self._slots.clear()
            self._close(sock)
            self._closed.set()

    def _control(self, code: int) -> bytes | None:
        if code == 4:
            return self.atr
        if code in (0, 1, 2):  # power off / on / reset: the field drops, authentication is lost
            with self._lock:
                self._auth = None
                self._halted = False
            return None
        log.warning("virtual card: unknown control code %d", code)
        return None

    # ---- the card ----------------------------------------------------------------------------

    def process_apdu(self, apdu: bytes) -> bytes:
        """Answer one command APDU (also usable without a socket, for unit tests)."""
        with self._lock:
            if len(apdu) < 4:
                return SW_WRONG_LENGTH
            cla, ins, p1, p2 = apdu[0], apdu[1], apdu[2], apdu[3]
            body = apdu[4:]
            if cla != 0xFF:
                return SW_BAD_CLA
            if ins == 0xCA:
                return self._get_data(p1, p2, body)
            if ins == 0x82:
                return self._load_key(p1, p2, body)
            if ins == 0x86:
                return self._general_authenticate(p1, p2, body)
            if ins == 0x88:
                if len(body) != 2:
                    return SW_WRONG_LENGTH
                return self._authenticate(p2, body[0], body[1])
            if ins == 0xB0:
                return self._read_binary(p1, p2, body)
            if ins == 0xD6:
                return self._update_binary(p1, p2, body)
            return SW_BAD_INS

    def _get_data(self, p1: int, p2: int, body: bytes) -> bytes:
        if p2 != 0 or len(body) > 1:
            return SW_WRONG_P1P2
        if p1 != 0:  # 01 = ATS: a MIFARE Classic has none
            return SW_FUNC_NOT_SUPPORTED
        if time.monotonic() < self._uid_ready_at:
            return SW_NOT_READY
        le = body[0] if body else 0
        if le and le < len(self.uid):
            return b"\x6c" + bytes([len(self.uid)])
        return self.uid + SW_OK

    def _load_key(self, p1: int, p2: int, body: bytes) -> bytes:
        if p1 & 0x80:  # reader keys / secured transmission: not offered
            return SW_FUNC_NOT_SUPPORTED
        if p1 & 0x20:  # non-volatile memory: not offered either
            return SW_NOT_ALLOWED
        if p2 > 1:
            return SW_OUT_OF_RANGE
        if len(body) != 7 or body[0] != 6:
            return SW_WRONG_LENGTH
        self._slots[p2] = bytes(body[1:7])
        return SW_OK

    def _general_authenticate(self, p1: int, p2: int, body: bytes) -> bytes:
        if p1 or p2:
            return SW_WRONG_P1P2
        if len(body) != 6 or body[0] != 5:
            return SW_WRONG_LENGTH
        data = body[1:]
        if data[0] != 0x01:
            return SW_FUNC_NOT_SUPPORTED
        block = (data[1] << 8) | data[2]
        return self._authenticate(block, data[3], data[4])

    def _authenticate(self, block: int, key_type: int, slot: int) -> bytes:
        self._auth = None
        if self._halted:
            return SW_AUTH_FAILED  # halted after a failed authentication: select it again
        answer = self._try_authenticate(block, key_type, slot)
        if answer == SW_AUTH_FAILED:
            self._halted = True
        return answer

    def _try_authenticate(self, block: int, key_type: int, slot: int) -> bytes:
        if block >= BLOCKS:
            return SW_OUT_OF_RANGE
        if key_type not in (0x60, 0x61):
            return SW_FUNC_NOT_SUPPORTED
        if slot not in self._slots:
            return SW_NOT_ALLOWED
        sector = block // 4
        key_a, access, key_b = self._trailer_raw(sector)
        if access is None:  # a sector with broken access bits is locked for ever
            return SW_AUTH_FAILED
        which = "A" if key_type == 0x60 else "B"
        if which == "B" and _TRAILER_ACCESS[access[3]][3]:
            return SW_AUTH_FAILED  # a readable key B cannot serve for authentication
        expected = key_a if which == "A" else key_b
        if self._slots[slot] != expected:
            return SW_AUTH_FAILED
        self._auth = (sector, which)
        return SW_OK

    def _trailer_raw(self, sector: int) -> tuple[bytes, tuple[tuple[int, int, int], ...] | None, bytes]:
        raw = self.block(sector * 4 + 3)
        return raw[0:6], decode_access_bits(raw[6:9]), raw[10:16]

    def _check_block(self, p1: int, p2: int) -> tuple[int, bytes | None]:
        if p1:
            return 0, SW_WRONG_P1P2
        if p2 >= BLOCKS:
            return 0, SW_OUT_OF_RANGE
        if self._halted or self._auth is None or self._auth[0] != p2 // 4:
            return 0, SW_SECURITY
        return p2, None

    def _read_binary(self, p1: int, p2: int, body: bytes) -> bytes:
        block, error = self._check_block(p1, p2)
        if error:
            return error
        if len(body) != 1:
            return SW_WRONG_LENGTH
        if body[0] not in (0x00, BLOCK_SIZE):
            return b"\x6c" + bytes([BLOCK_SIZE])
        assert self._auth is not None
        who = self._auth[1]
        key_a, access, key_b = self._trailer_raw(block // 4)
        assert access is not None
        if block % 4 == 3:
            _, ac_read, _, kb_read, _ = _TRAILER_ACCESS[access[3]]
            raw = self.block(block)
            ac = raw[6:10] if who in ac_read else bytes(4)
            kb = key_b if who in kb_read else bytes(6)
            return bytes(6) + ac + kb + SW_OK
        if block == 0:
            return self.block(0) + SW_OK
        read, _ = _DATA_ACCESS[access[block % 4]]
        if who not in read:
            return SW_SECURITY
        return self.block(block) + SW_OK

    def _update_binary(self, p1: int, p2: int, body: bytes) -> bytes:
        block, error = self._check_block(p1, p2)
        if error:
            return error
        if len(body) != 1 + BLOCK_SIZE or body[0] != BLOCK_SIZE:
            return SW_WRONG_LENGTH
        data = bytes(body[1:])
        if block == 0:
            return SW_NOT_ALLOWED  # manufacturer block
        assert self._auth is not None
        who = self._auth[1]
        key_a, access, key_b = self._trailer_raw(block // 4)
        assert access is not None
        if block % 4 != 3:
            _, write = _DATA_ACCESS[access[block % 4]]
            if who not in write:
                return SW_SECURITY
            self.set_block(block, data)
            return SW_OK
        ka_write, _, ac_write, _, kb_write = _TRAILER_ACCESS[access[3]]
        new_access = decode_access_bits(data[6:9])
        if new_access is None:
            return SW_NOT_ALLOWED  # would lock the sector for ever
        old = self.block(block)
        for part, allowed in ((slice(0, 6), ka_write), (slice(6, 10), ac_write), (slice(10, 16), kb_write)):
            if data[part] != old[part] and who not in allowed:
                return SW_SECURITY
        self.set_block(block, data)
        return SW_OK
