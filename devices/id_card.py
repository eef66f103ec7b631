"""Resident ID-card (二代证) reader: the port, the card's data, its events and errors.

A reader reports what happens on it as frozen dataclass events delivered to subscribers:
``IdCardPresent(reader)`` (a card entered the field), then ``IdCardRead(card, reader)`` or
``IdCardReadFailed(error, reader)``, ``IdCardRemoved(reader)`` when it leaves, and
``IdReaderStatus(state, detail)`` with ``state`` one of ``ready``, ``no_reader`` (the port cannot
be opened) or ``recovering`` (the reader just failed; the driver is reopening it). A new
subscriber is told the current status (and the card on the reader and its data, if any) at
once. Events arrive on the reader's own thread (``SerialIdCardReader``'s monitor thread, the
caller's thread for ``SimulatedIdCardReader``): a UI hops to its own thread itself.

A failed read is not retried by itself: the UI asks again with ``request_read()`` (the result
comes as an event), or the reader takes the card off and puts it back. ``read_card()`` is the
blocking form (find, select, read) for services and tests.

``IdCardData`` holds the text block only. The photo block (WLT) is never decoded, kept, logged
or sent (PIPL): the drivers drop it where the frame is parsed, and ``repr`` masks the ID number
and leaves out the name and address so a logged card says little.

Errors are ``IdCardError`` subclasses with message ids in the ``id_card`` catalog. This module
imports no driver; ``devices.factory.build_id_card_reader`` picks one by ``settings.type``.
"""

from __future__ import annotations

import datetime as dt
import logging
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from library_core.errors import DeviceError, ValidationError
from library_core.identity import birth_date_from_id, mask_resident_id, validate_resident_id
from library_core.observable import EventSource

log = logging.getLogger(__name__)

IdReaderState = Literal["ready", "no_reader", "recovering"]
Gender = Literal["male", "female"]

# GB/T 2261.1 gender codes as printed in the text block
GENDER_CODES: dict[str, Gender] = {"1": "male", "2": "female"}

# GB 3304 ethnicity codes (the text block holds the two-digit code)
_ETHNIC_NAMES = (
    "汉", "蒙古", "回", "藏", "维吾尔", "苗", "彝", "壮", "布依", "朝鲜", "满", "侗", "瑶", "白",
    "土家", "哈尼", "哈萨克", "傣", "黎", "傈僳", "佤", "畲", "高山", "拉祜", "水", "东乡", "纳西",
    "景颇", "柯尔克孜", "土", "达斡尔", "仫佬", "羌", "布朗", "撒拉", "毛南", "仡佬", "锡伯", "阿昌",
    "普米", "塔吉克", "怒", "乌孜别克", "俄罗斯", "鄂温克", "德昂", "保安", "裕固", "京", "塔塔尔",
    "独龙", "鄂伦春", "赫哲", "门巴", "珞巴", "基诺",
)
ETHNICITIES: dict[str, str] = {f"{i:02d}": name for i, name in enumerate(_ETHNIC_NAMES, start=1)} | {
    "97": "其他", "98": "外国血统中国籍人士"}

LONG_TERM = "长期"
_BAD_TEXT_CATEGORIES = {"Cc", "Cf", "Cs", "Cn", "Zl", "Zp"}  # private use (生僻字) is allowed


def text_ok(text: str) -> bool:
    """No control, format, surrogate, unassigned or line-separator characters."""
    return all(unicodedata.category(ch) not in _BAD_TEXT_CATEGORIES for ch in text)


# ---- the card's data -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IdCardData:
    """The text block of a resident ID card, checked (see ``from_fields``); no photo, ever.

    ``valid_to`` is None for a card valid for the long term (长期).
    """

    name: str
    gender: Gender
    ethnicity_code: str
    birth_date: dt.date
    address: str
    id_number: str
    issuing_authority: str
    valid_from: dt.date
    valid_to: dt.date | None

    @property
    def ethnicity(self) -> str:
        """The ethnicity's Chinese name (民族), or the code if it is not in GB 3304."""
        return ETHNICITIES.get(self.ethnicity_code, self.ethnicity_code)

    @property
    def long_term(self) -> bool:
        return self.valid_to is None

    def expired(self, today: dt.date) -> bool:
        """Whether the card is past its validity on ``today`` (the last valid day still counts)."""
        return self.valid_to is not None and today > self.valid_to

    def not_yet_valid(self, today: dt.date) -> bool:
        return today < self.valid_from

    def __repr__(self) -> str:  # names, addresses and full numbers stay out of logs
        return (f"IdCardData(id_number={mask_resident_id(self.id_number)!r}, "
                f"valid_to={self.valid_to})")

    @classmethod
    def from_fields(
        cls, *, name: str, gender_code: str, ethnicity_code: str, birth_date: str, address: str,
        id_number: str, issuing_authority: str, valid_from: str, valid_to: str,
    ) -> IdCardData:
        """The checked card from the text block's fields (already stripped of padding).

        Dates are ``YYYYMMDD``; ``valid_to`` may be ``长期``. Raises IdCardDataError (message
        ids ``id_card.bad_name``, ``id_card.bad_gender``, ``id_card.bad_ethnicity``,
        ``id_card.bad_id_number``, ``id_card.bad_date``, ``id_card.bad_validity``).
        """
        if not name or not text_ok(name):
            raise IdCardDataError("id_card.bad_name", "the name is empty or not printable")
        gender = GENDER_CODES.get(gender_code)
        if gender is None:
            raise IdCardDataError("id_card.bad_gender", f"gender code {gender_code!r}")
        if len(ethnicity_code) != 2 or not ethnicity_code.isdigit():
            raise IdCardDataError("id_card.bad_ethnicity", f"ethnicity code {ethnicity_code!r}")
        try:
            number = validate_resident_id(id_number)
        except ValidationError as err:
            raise IdCardDataError("id_card.bad_id_number", err.message_id) from err
        birth = _date(birth_date, "birth date")
        if birth != birth_date_from_id(number):
            raise IdCardDataError("id_card.bad_date", "birth date differs from the ID number's")
        if (int(number[16]) % 2 == 1) != (gender == "male"):
            raise IdCardDataError("id_card.bad_gender", "gender differs from the ID number's")
        start = _date(valid_from, "valid from")
        end = None if valid_to == LONG_TERM else _date(valid_to, "valid to")
        if start < birth or (end is not None and end <= start):
            raise IdCardDataError("id_card.bad_validity", f"validity {valid_from}-{valid_to}")
        for text in (address, issuing_authority):
            if not text_ok(text):
                raise IdCardDataError("id_card.bad_text", "address or authority not printable")
        return cls(name=name, gender=gender, ethnicity_code=ethnicity_code, birth_date=birth,
                   address=address, id_number=number, issuing_authority=issuing_authority,
                   valid_from=start, valid_to=end)


def _date(text: str, what: str) -> dt.date:
    if len(text) != 8 or not text.isdigit():
        raise IdCardDataError("id_card.bad_date", f"{what} {text!r} is not YYYYMMDD")
    try:
        value = dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError as err:
        raise IdCardDataError("id_card.bad_date", f"{what} {text!r}") from err
    if value.year < 1900:
        raise IdCardDataError("id_card.bad_date", f"{what} {text!r} before 1900")
    return value


# ---- errors --------------------------------------------------------------------------------------


class IdCardError(DeviceError):
    """The ID card or its reader failed."""

    message_id = "id_card.error"


class NoIdCard(IdCardError):
    """No ID card on the reader (find card answered 0x80)."""

    message_id = "id_card.no_card"


class IdCardRemovedError(IdCardError):
    """The card left the reader while it was being read."""

    message_id = "id_card.removed"


class IdCardReadError(IdCardError):
    """The reader found the card but could not select or read it (``id_card.select_failed``,
    ``id_card.read_failed``)."""

    message_id = "id_card.read_failed"


class IdReaderProtocolError(IdCardError):
    """The reader's answer was damaged: ``id_card.checksum`` (bad CHK), ``id_card.truncated``
    (the frame stopped short), ``id_card.bad_frame`` (not a frame, or the wrong shape),
    ``id_card.reader_checksum`` (the reader says our frame was damaged), ``id_card.unknown_status``."""

    message_id = "id_card.bad_frame"


class IdReaderTimeout(IdCardError):
    """The reader did not answer in time."""

    message_id = "id_card.timeout"


class IdReaderUnavailable(IdCardError):
    """The reader's port is not there (unplugged, wrong port, not started)."""

    message_id = "id_card.reader_unavailable"


class IdCardDataError(IdCardError):
    """The card's text block holds something no genuine card holds (bad ID number, dates)."""

    message_id = "id_card.bad_data"


# ---- events --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IdCardPresent:
    """An ID card entered the reader's field."""

    reader: str


@dataclass(frozen=True, slots=True)
class IdCardRead:
    """The card on the reader was read."""

    card: IdCardData
    reader: str


@dataclass(frozen=True, slots=True)
class IdCardReadFailed:
    """Reading the card on the reader failed; ``error.message_id`` says why."""

    error: IdCardError
    reader: str


@dataclass(frozen=True, slots=True)
class IdCardRemoved:
    """The card left the reader (taken away, or the reader went away)."""

    reader: str


@dataclass(frozen=True, slots=True)
class IdReaderStatus:
    """Whether the reader can be used; ``detail`` is for logs and diagnostics."""

    state: IdReaderState
    detail: str = ""

    @property
    def ready(self) -> bool:
        return self.state == "ready"

    @property
    def message_id(self) -> str:
        return f"id_card.status.{self.state}"


IdCardEvent = IdCardPresent | IdCardRead | IdCardReadFailed | IdCardRemoved | IdReaderStatus
IdCardSubscriber = Callable[[IdCardEvent], None]


# ---- the port ------------------------------------------------------------------------------------


@runtime_checkable
class IdCardReader(Protocol):
    """A resident ID-card reader (see the module docstring)."""

    @property
    def status(self) -> IdReaderStatus: ...

    def start(self) -> None:
        """Start watching the reader (idempotent)."""
        ...

    def stop(self) -> None:
        """Stop watching; returns within a few seconds."""
        ...

    def subscribe(self, callback: IdCardSubscriber) -> Callable[[], None]:
        """Call ``callback`` with every event; it is told the current state at once.

        Returns a function that unsubscribes.
        """
        ...

    def current_card(self) -> IdCardData | None:
        """The data of the card on the reader, if it was read and is still there."""
        ...

    def request_read(self) -> None:
        """Read the card on the reader again (after a failure); the result comes as an event."""
        ...

    def read_card(self) -> IdCardData:
        """Find, select and read the card now (blocking, a few seconds at most).

        Raises IdCardError subclasses (``NoIdCard`` when there is none).
        """
        ...


# ---- shared plumbing -----------------------------------------------------------------------------


class IdCardReaderBase(EventSource[IdCardEvent]):
    """Subscribers, status and card tracking shared by the drivers."""

    def __init__(self, reader_name: str) -> None:
        super().__init__(name="ID-card reader")
        self.reader_name = reader_name
        self._status = IdReaderStatus("recovering", "not started")
        self._present = False
        self._card: IdCardData | None = None

    @property
    def status(self) -> IdReaderStatus:
        return self._status

    def current_card(self) -> IdCardData | None:
        return self._card

    def current_events(self) -> Sequence[IdCardEvent]:
        """The status, then the card on the reader and its data if there are."""
        events: list[IdCardEvent] = [self._status]
        if self._present:
            events.append(IdCardPresent(self.reader_name))
            card = self._card
            if card is not None:
                events.append(IdCardRead(card, self.reader_name))
        return events

    def _emit(self, event: IdCardEvent) -> None:
        with self._ordered():
            if isinstance(event, IdReaderStatus):
                if event == self._status:
                    return
                self._status = event
                log.info("ID-card reader status: %s %s", event.state, event.detail)
            elif isinstance(event, IdCardPresent):
                self._present, self._card = True, None
                log.info("ID card on %s", event.reader)
            elif isinstance(event, IdCardRead):
                self._card = event.card
                log.info("ID card read on %s: %r", event.reader, event.card)
            elif isinstance(event, IdCardReadFailed):
                self._card = None
                log.warning("ID card read failed on %s: %s", event.reader, event.error)
            else:
                if not self._present:
                    return
                self._present, self._card = False, None
                log.info("ID card removed from %s", event.reader)
            self.publish(event)

    def _card_gone(self) -> None:
        with self._ordered():
            if self._present:
                self._emit(IdCardRemoved(self.reader_name))


__all__ = [
    "ETHNICITIES",
    "GENDER_CODES",
    "LONG_TERM",
    "Gender",
    "IdCardData",
    "IdCardDataError",
    "IdCardError",
    "IdCardEvent",
    "IdCardPresent",
    "IdCardRead",
    "IdCardReadError",
    "IdCardReadFailed",
    "IdCardReader",
    "IdCardReaderBase",
    "IdCardRemoved",
    "IdCardRemovedError",
    "IdCardSubscriber",
    "IdReaderProtocolError",
    "IdReaderState",
    "IdReaderStatus",
    "IdReaderTimeout",
    "IdReaderUnavailable",
    "NoIdCard",
    "text_ok",
]
