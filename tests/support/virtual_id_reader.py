"""A virtual GA 467 resident ID-card reader: the device end of a real pty pair, byte-exact.

The driver under test opens the pty's stable symlink (like ``/dev/serial/by-id/...``) with
pyserial; this end parses its command frames and answers as a reader would: FIND ``9F`` (card
found) or ``80`` (none), SELECT ``90`` or ``81``, READ_BASE ``90`` with the 1284-byte base
information (text length, photo length, 256 bytes of UCS-2LE text, 1024 photo bytes) or ``41``,
and ``10`` to a command with a bad checksum. The frames are built here independently of
``devices.ga467`` (its own encoder and layout table), so a mistake there is not mirrored here.

Faults, each for the next answer to one command: ``bad_checksum``, ``truncate`` (send part of
the frame, then nothing), ``slow`` (answer after a delay), ``lose_card`` (the card leaves as
it is selected or read: SELECT answers ``81``, READ_BASE ``41``, later FINDs ``80``), ``fail``
(SELECT ``81`` / READ_BASE ``41`` while the card stays), ``garbage`` (a length of FFFF),
``noise`` (random bytes before a good answer). ``unplug()`` closes the pty so the
port vanishes under the driver; ``replug()`` makes a new pty behind the same symlink.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import select
import threading
import tty
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devices.id_card import IdCardData
from tests.support.serial_pty import PtyPort

log = logging.getLogger(__name__)

HEAD = b"\xaa\xaa\xaa\x96\x69"
FIND, SELECT, READ_BASE = b"\x20\x01", b"\x20\x02", b"\x30\x01"
# the text block's fields and sizes in bytes, as the public documentation lists them
LAYOUT = (("name", 30), ("gender", 2), ("ethnicity", 4), ("birth", 16), ("address", 70),
          ("id_number", 36), ("authority", 30), ("valid_from", 16), ("valid_to", 16),
          ("reserved", 36))
PHOTO_SIZE = 1024
# a photo no text or log could hold by chance: a marker and random bytes
PHOTO_MARKER = b"WLT-PHOTO-\xfe\xed\xfa\xce"


def photo_bytes() -> bytes:
    return (PHOTO_MARKER + os.urandom(PHOTO_SIZE))[:PHOTO_SIZE]


@dataclass
class VirtualIdCard:
    """A card's text fields as the card holds them (strings), and its photo block."""

    name: str
    gender: str
    ethnicity: str
    birth: str
    address: str
    id_number: str
    authority: str
    valid_from: str
    valid_to: str
    photo: bytes = dataclasses.field(default_factory=photo_bytes, repr=False)

    @classmethod
    def of(cls, card: IdCardData, **changes: str) -> VirtualIdCard:
        """The card ``card`` was read from (``changes`` replace text fields, e.g. a bad number)."""
        fields = dict(
            name=card.name, gender="1" if card.gender == "male" else "2",
            ethnicity=card.ethnicity_code, birth=f"{card.birth_date:%Y%m%d}", address=card.address,
            id_number=card.id_number, authority=card.issuing_authority,
            valid_from=f"{card.valid_from:%Y%m%d}",
            valid_to="长期" if card.valid_to is None else f"{card.valid_to:%Y%m%d}")
        return cls(**(fields | changes))

    def text_block(self) -> bytes:
        out = b""
        for name, size in LAYOUT:
            raw = ("" if name == "reserved" else getattr(self, name)).encode("utf-16-le")
            assert len(raw) <= size, f"{name} too long for its {size} bytes"
            out += raw + " ".encode("utf-16-le") * ((size - len(raw)) // 2)
        assert len(out) == 256
        return out

    def base_info(self) -> bytes:
        return (256).to_bytes(2, "big") + len(self.photo).to_bytes(2, "big") + self.text_block() + self.photo


def xor(data: bytes) -> int:
    value = 0
    for b in data:
        value ^= b
    return value


def answer_frame(sw3: int, data: bytes = b"") -> bytes:
    body = (3 + len(data) + 1).to_bytes(2, "big") + bytes([0, 0, sw3]) + data
    return HEAD + body + bytes([xor(body)])


@dataclass
class Fault:
    kind: str  # bad_checksum, truncate, slow, lose_card, fail, garbage, noise
    delay_s: float = 0.0
    keep: int = 0  # bytes a truncated frame keeps


class RawPtyPort(PtyPort):
    """A pty in raw mode from the start (no echo, no line editing before pyserial opens it)."""

    def replug(self) -> None:
        super().replug()
        assert self.slave is not None
        tty.setraw(self.slave)


class VirtualIdReader:
    """The reader end of the pty (see the module docstring)."""

    def __init__(self, link: Path) -> None:
        self.port = RawPtyPort(link)
        self.card: VirtualIdCard | None = None
        self.commands: list[bytes] = []  # every command frame received, in order
        self.sent: list[bytes] = []  # every answer frame sent (whole, before any truncation)
        self._faults: dict[bytes, Fault] = {}
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._buffer = b""
        self._thread = threading.Thread(target=self._serve, name="virtual-id-reader", daemon=True)
        self._thread.start()

    @property
    def path(self) -> str:
        return self.port.path

    # ---- driving it ----

    def insert(self, card: VirtualIdCard) -> None:
        with self._lock:
            self.card = card

    def remove(self) -> None:
        with self._lock:
            self.card = None

    def fault(self, command: bytes, kind: str, *, delay_s: float = 0.0, keep: int = 0) -> None:
        """Make the next answer to ``command`` (FIND, SELECT, READ_BASE) go wrong."""
        with self._lock:
            self._faults[command] = Fault(kind, delay_s, keep)

    def unplug(self) -> None:
        with self._lock:
            self.port.unplug()
            self._buffer = b""

    def replug(self) -> None:
        with self._lock:
            self.port.replug()
            self._buffer = b""

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        with self._lock:
            self.port.unplug()

    # ---- the device ----

    def _serve(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                master = self.port.master
                chunk = b""
                if master is not None:
                    try:
                        ready, _, _ = select.select([master], [], [], 0.02)
                        chunk = os.read(master, 4096) if ready else b""
                    except OSError:  # the driver side closed and nobody holds the slave
                        chunk = b""
                self._buffer += chunk
                request = self._take_request()
            if master is None:
                self._stop.wait(0.02)
            elif request is not None:
                self._answer(request)

    def _take_request(self) -> bytes | None:
        start = self._buffer.find(HEAD)
        if start < 0:
            self._buffer = self._buffer[-4:]
            return None
        buf = self._buffer[start:]
        if len(buf) < 7:
            return None
        end = 7 + int.from_bytes(buf[5:7], "big")
        if len(buf) < end:
            return None
        self._buffer = buf[end:]
        return buf[:end]

    def _answer(self, request: bytes) -> None:
        with self._lock:
            self.commands.append(request)
            command = request[7:9]
            fault = self._faults.pop(command, None)
            card = self.card
            if fault is not None and fault.kind == "lose_card" and command in (SELECT, READ_BASE):
                self.card, card = None, None
            if xor(request[5:-1]) != request[-1]:
                frame = answer_frame(0x10)
            elif command == FIND:
                frame = answer_frame(0x9F, bytes(4)) if card else answer_frame(0x80)
            elif command == SELECT:
                frame = answer_frame(0x90, bytes(8)) if card else answer_frame(0x81)
            elif command == READ_BASE:
                frame = answer_frame(0x90, card.base_info()) if card else answer_frame(0x41)
            else:
                frame = answer_frame(0x24)
            if fault is not None and fault.kind == "fail":  # the card stays, the command fails
                frame = answer_frame({SELECT: 0x81, READ_BASE: 0x41}.get(command, 0x24))
            self.sent.append(frame)
        if fault is not None and fault.kind == "slow":
            self._stop.wait(fault.delay_s)
        elif fault is not None and fault.kind == "bad_checksum":
            frame = frame[:-1] + bytes([frame[-1] ^ 0x5A])
        elif fault is not None and fault.kind == "truncate":
            frame = frame[:fault.keep or len(frame) // 2]
        elif fault is not None and fault.kind == "garbage":  # a length no answer has
            frame = frame[:5] + b"\xff\xff" + frame[7:]
        elif fault is not None and fault.kind == "noise":  # line noise before a good answer
            frame = bytes(b for b in os.urandom(64) if b != 0xAA) + frame
        with self._lock:
            if self.port.master is not None:
                try:
                    self.port.write(frame)
                except OSError:
                    log.info("virtual ID reader: answer lost (port closed)")


@pytest.fixture
def virtual_id_reader(tmp_path: Path) -> Iterator[VirtualIdReader]:
    reader = VirtualIdReader(tmp_path / "ttyIdReader")
    yield reader
    reader.close()


__all__ = ["FIND", "PHOTO_MARKER", "READ_BASE", "SELECT", "VirtualIdCard", "VirtualIdReader",
           "answer_frame", "photo_bytes", "virtual_id_reader"]
