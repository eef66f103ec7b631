"""GA 467 SAM frames for resident ID-card readers: build commands, cut and parse answers, decode
the base information. Pure functions, no I/O (``devices.serial_id_card_reader`` does the I/O).

A frame is ``AA AA AA 96 69``, a 2-byte big-endian length (of everything after it), then for a
command ``CMD PARA DATA CHK`` and for an answer ``SW1 SW2 SW3 DATA CHK``; ``CHK`` is the XOR of
every byte after the preamble except itself. ``SW3`` is the status (``Status``). The base
information is a 2-byte text length, a 2-byte photo length, 256 bytes of UCS-2LE text in fixed
fields, then the photo (WLT). The photo is checked for length only and dropped here: it is never
decoded, kept, returned or logged.

Written by hand: no maintained Python library speaks this protocol (vendors ship C SDKs).
Every failure is an ``IdCardError`` subclass; ``parse_answer`` and ``decode_base_info`` raise
nothing else, whatever the bytes (a hypothesis test fuzzes them).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from devices.id_card import (
    IdCardData,
    IdCardDataError,
    IdCardError,
    IdCardReadError,
    IdReaderProtocolError,
    NoIdCard,
    text_ok,
)

PREAMBLE = bytes.fromhex("AAAAAA9669")
HEADER_SIZE = len(PREAMBLE) + 2
MIN_ANSWER_LENGTH = 4  # SW1 SW2 SW3 CHK
MAX_LENGTH = 4096  # longer than any answer (base information with fingerprints is about 2.3 kB)

FIND = (0x20, 0x01)
SELECT = (0x20, 0x02)
READ_BASE = (0x30, 0x01)
COMMAND_NAMES = {FIND: "find card", SELECT: "select card", READ_BASE: "read base information"}

TEXT_SIZE = 256
# (field, bytes) in the order of the text block; two bytes per UCS-2 character
TEXT_LAYOUT: tuple[tuple[str, int], ...] = (
    ("name", 30), ("gender_code", 2), ("ethnicity_code", 4), ("birth_date", 16),
    ("address", 70), ("id_number", 36), ("issuing_authority", 30), ("valid_from", 16),
    ("valid_to", 16), ("reserved", 36),
)


class Status(IntEnum):
    """SW3 values the reader answers with."""

    OK = 0x90
    CARD_FOUND = 0x9F
    NO_CARD = 0x80
    SELECT_FAILED = 0x81
    READ_FAILED = 0x41
    CHECKSUM = 0x10  # the reader got our frame damaged
    UNKNOWN_ERROR = 0x24


@dataclass(frozen=True, slots=True)
class Answer:
    """One parsed answer frame (``data`` may hold the photo: keep it out of logs and reprs)."""

    sw1: int
    sw2: int
    sw3: int
    data: bytes

    def __repr__(self) -> str:
        return f"Answer(sw3=0x{self.sw3:02X}, {len(self.data)} data bytes)"


def checksum(body: bytes) -> int:
    """XOR of ``body`` (the bytes after the preamble, without CHK)."""
    value = 0
    for byte in body:
        value ^= byte
    return value


def _frame(body: bytes) -> bytes:
    framed = (len(body) + 1).to_bytes(2, "big") + body
    return PREAMBLE + framed + bytes([checksum(framed)])


def build_command(command: tuple[int, int], data: bytes = b"") -> bytes:
    """The frame for ``command`` (CMD, PARA) with ``data``: FIND gives ``AA AA AA 96 69 00 03 20 01 22``."""
    return _frame(bytes(command) + data)


def take_frame(buffer: bytes) -> tuple[bytes | None, bytes]:
    """(the first whole frame in ``buffer``, the bytes after it), or (None, the bytes to keep).

    Bytes before a preamble are skipped. Raises IdReaderProtocolError (``id_card.bad_frame``)
    for a length no answer has, so a garbage length never makes the caller wait for kilobytes.
    """
    start = buffer.find(PREAMBLE)
    if start < 0:
        keep = next((n for n in range(len(PREAMBLE) - 1, 0, -1) if buffer.endswith(PREAMBLE[:n])), 0)
        return None, buffer[len(buffer) - keep:] if keep else b""
    buffer = buffer[start:]
    if len(buffer) < HEADER_SIZE:
        return None, buffer
    length = int.from_bytes(buffer[len(PREAMBLE):HEADER_SIZE], "big")
    if not MIN_ANSWER_LENGTH <= length <= MAX_LENGTH:
        raise IdReaderProtocolError("id_card.bad_frame", f"frame length {length}")
    end = HEADER_SIZE + length
    if len(buffer) < end:
        return None, buffer
    return buffer[:end], buffer[end:]


def parse_answer(frame: bytes) -> Answer:
    """The answer in one whole frame. Raises IdReaderProtocolError (``id_card.bad_frame``,
    ``id_card.truncated``, ``id_card.checksum``)."""
    if not frame.startswith(PREAMBLE):
        raise IdReaderProtocolError("id_card.bad_frame", "no preamble")
    if len(frame) < HEADER_SIZE + MIN_ANSWER_LENGTH:
        raise IdReaderProtocolError("id_card.truncated", f"{len(frame)} bytes")
    length = int.from_bytes(frame[len(PREAMBLE):HEADER_SIZE], "big")
    if not MIN_ANSWER_LENGTH <= length <= MAX_LENGTH:
        raise IdReaderProtocolError("id_card.bad_frame", f"frame length {length}")
    if len(frame) < HEADER_SIZE + length:
        raise IdReaderProtocolError("id_card.truncated", f"{len(frame)} of {HEADER_SIZE + length} bytes")
    if len(frame) > HEADER_SIZE + length:
        raise IdReaderProtocolError("id_card.bad_frame", "bytes after the frame")
    body = frame[len(PREAMBLE):-1]
    if checksum(body) != frame[-1]:
        raise IdReaderProtocolError("id_card.checksum", "answer checksum does not match")
    return Answer(frame[7], frame[8], frame[9], frame[10:-1])


def status_error(sw3: int, command: tuple[int, int]) -> IdCardError:
    """The typed error for a status that is not the success of ``command``."""
    name = COMMAND_NAMES.get(command, "command")
    if sw3 == Status.NO_CARD:
        return NoIdCard("id_card.no_card", f"{name}: no card")
    if sw3 == Status.SELECT_FAILED:
        return IdCardReadError("id_card.select_failed", f"{name}: select failed")
    if sw3 == Status.READ_FAILED:
        return IdCardReadError("id_card.read_failed", f"{name}: read failed")
    if sw3 == Status.CHECKSUM:
        return IdReaderProtocolError("id_card.reader_checksum", f"{name}: the reader saw a bad checksum")
    if sw3 == Status.UNKNOWN_ERROR:
        return IdReaderProtocolError("id_card.unknown_status", f"{name}: the reader reports an unknown error")
    return IdReaderProtocolError("id_card.unknown_status", f"{name}: unexpected status 0x{sw3:02X}")


def card_found(answer: Answer) -> bool:
    """Whether a FIND answer says a card is there. Raises the status's IdCardError otherwise."""
    if answer.sw3 == Status.CARD_FOUND:
        return True
    if answer.sw3 == Status.NO_CARD:
        return False
    raise status_error(answer.sw3, FIND)


def _fields(text: bytes) -> dict[str, str]:
    fields: dict[str, str] = {}
    at = 0
    for name, size in TEXT_LAYOUT:
        raw = text[at:at + size]
        at += size
        try:
            value = raw.decode("utf-16-le")
        except UnicodeDecodeError as err:
            raise IdCardDataError("id_card.bad_text", f"{name} is not UCS-2") from err
        fields[name] = value.rstrip(" \x00").lstrip(" ")
    return fields


def decode_base_info(data: bytes) -> IdCardData:
    """The checked card from a READ_BASE answer's data; the photo is dropped unread.

    Raises IdReaderProtocolError (``id_card.bad_frame``: lengths that do not add up) or
    IdCardDataError (a field no genuine card holds).
    """
    if len(data) < 4:
        raise IdReaderProtocolError("id_card.bad_frame", f"base information of {len(data)} bytes")
    text_len = int.from_bytes(data[0:2], "big")
    photo_len = int.from_bytes(data[2:4], "big")
    if text_len != TEXT_SIZE or len(data) != 4 + text_len + photo_len:
        raise IdReaderProtocolError(
            "id_card.bad_frame", f"text {text_len} + photo {photo_len} in {len(data) - 4} bytes")
    fields = _fields(data[4:4 + TEXT_SIZE])  # data[4 + TEXT_SIZE:] is the photo: not touched
    fields.pop("reserved")
    if not all(text_ok(value) for value in fields.values()):
        raise IdCardDataError("id_card.bad_text", "a field holds control characters")
    return IdCardData.from_fields(**fields)
