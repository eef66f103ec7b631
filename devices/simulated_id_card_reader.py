"""The simulated ID-card reader: an in-memory reader for demo, training and UI tests.

It speaks the same port as the real driver (``devices.id_card.IdCardReader``): the same events
and errors. ``place(card)`` puts a card on it (the card is read at once: ``IdCardPresent`` then
``IdCardRead``), ``remove()`` takes it away, ``fail_next_read(error)`` makes the next read fail
with that error, ``set_status(state)`` fakes a reader outage. Events are delivered on the thread
that calls them. ``demo_card(kind, today)`` builds the demo cards (adult, child under 14,
senior, expired, long-term) with valid ID numbers, aged against ``today``; ``[id_card]
simulated_card`` names the one the reader holds from start-up.
"""

from __future__ import annotations

import datetime as dt
import threading

from config.id_card import IdCardSection, SimulatedCardName
from devices.id_card import (
    IdCardData,
    IdCardError,
    IdCardPresent,
    IdCardRead,
    IdCardReaderBase,
    IdCardReadFailed,
    IdReaderState,
    IdReaderStatus,
    IdReaderUnavailable,
    NoIdCard,
)
from library_core.clock import Clock, SystemClock
from library_core.identity import id_check_char

READER_NAME = "Simulated ID-card reader"

# kind: (name, gender code, region, age in years, sequence, address, years valid (0: 长期), expired)
_DEMO: dict[str, tuple[str, str, str, int, str, str, int, bool]] = {
    "adult": ("张伟", "1", "110101", 35, "123", "北京市东城区东华门街道南池子大街12号", 20, False),
    "child": ("李乐乐", "2", "310104", 10, "042", "上海市徐汇区漕溪北路88弄3号502室", 5, False),
    "senior": ("刘桂兰", "2", "110102", 72, "368", "北京市西城区西长安街1号", 0, False),
    "expired": ("陈建国", "1", "110105", 41, "215", "北京市朝阳区建国路88号", 10, True),
    "long_term": ("赵志强", "1", "310101", 52, "457", "上海市黄浦区南京东路100号", 0, False),
}


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def demo_card(kind: str, today: dt.date) -> IdCardData:
    """A demo card of ``kind`` (adult, child, senior, expired, long_term), aged against ``today``.

    Raises KeyError for an unknown kind.
    """
    name, gender, region, age, sequence, address, years, expired = _DEMO[kind]
    birth = _years_before(today, age) - dt.timedelta(days=37)
    first17 = f"{region}{birth:%Y%m%d}{sequence}"
    valid_to: dt.date | None
    if expired:
        last_day = today - dt.timedelta(days=30)
        valid_from, valid_to = _years_before(last_day, years), last_day
    elif years:
        valid_from = _years_before(today, 2) - dt.timedelta(days=100)
        valid_to = valid_from.replace(year=valid_from.year + years)
    else:
        valid_from, valid_to = _years_before(today, 3), None
    return IdCardData.from_fields(
        name=name, gender_code=gender, ethnicity_code="01", birth_date=f"{birth:%Y%m%d}",
        address=address, id_number=first17 + id_check_char(first17),
        issuing_authority=f"{address[:address.index('区') + 1]}公安分局",
        valid_from=f"{valid_from:%Y%m%d}",
        valid_to="长期" if valid_to is None else f"{valid_to:%Y%m%d}")


class SimulatedIdCardReader(IdCardReaderBase):
    """An in-memory ID-card reader (see the module docstring)."""

    def __init__(
        self, settings: IdCardSection | None = None, *, clock: Clock | None = None,
        reader_name: str = READER_NAME,
    ) -> None:
        super().__init__(reader_name)
        settings = settings or IdCardSection(type="simulated")
        self._clock = clock or SystemClock()
        self._lock = threading.RLock()
        self._held: IdCardData | None = None
        self._fault: IdCardError | None = None
        self._started = False
        self._wanted_status = IdReaderStatus("ready", reader_name)
        kind: SimulatedCardName = settings.simulated_card
        if kind != "none":
            self._held = demo_card(kind, self._clock.now().date())

    def start(self) -> None:
        with self._lock:
            self._started = True
            self._emit(self._wanted_status)
            if self._held is not None and not self._present and self._status.ready:
                self._arrive()

    def stop(self) -> None:
        self._started = False

    # ---- driving it ----

    def place(self, card: IdCardData | str) -> IdCardData:
        """Put ``card`` (or the demo card of that kind) on the reader; it is read at once."""
        with self._lock:
            if isinstance(card, str):
                card = demo_card(card, self._clock.now().date())
            if self._held is not None:
                self.remove()
            self._held = card
            if self._started and self._status.ready:
                self._arrive()
            return card

    def remove(self) -> None:
        with self._lock:
            self._held = None
            self._card_gone()

    def fail_next_read(self, error: IdCardError) -> None:
        """Make the next read (event or ``read_card``) fail with ``error``."""
        with self._lock:
            self._fault = error

    def set_status(self, state: IdReaderState, detail: str = "") -> None:
        """Fake a reader outage (or its end); a card on the reader is lost while not ready."""
        with self._lock:
            self._wanted_status = IdReaderStatus(state, detail or self.reader_name)
            if state != "ready":
                self._card_gone()
            if self._started:
                self._emit(self._wanted_status)
                if state == "ready" and self._held is not None and not self._present:
                    self._arrive()

    # ---- the port ----

    def _arrive(self) -> None:
        self._emit(IdCardPresent(self.reader_name))
        self._publish_read()

    def _publish_read(self) -> None:
        try:
            card = self._read()
        except IdCardError as err:
            self._emit(IdCardReadFailed(err, self.reader_name))
        else:
            self._emit(IdCardRead(card, self.reader_name))

    def _read(self) -> IdCardData:
        if not self._started or not self._status.ready:
            raise IdReaderUnavailable("id_card.reader_unavailable", f"reader is {self._status.state}")
        card = self._held
        if card is None:
            raise NoIdCard("id_card.no_card", "no card on the reader")
        fault, self._fault = self._fault, None
        if fault is not None:
            raise fault
        return card

    def request_read(self) -> None:
        with self._lock:
            if self._present:
                self._publish_read()

    def read_card(self) -> IdCardData:
        with self._lock:
            return self._read()
