"""SerialIdCardReader through real pyserial on a real pty, against the virtual GA 467 reader.

Each case waits for its typed result, then checks that the next read works. The wait is bounded
generously (a loaded CI machine holds threads for seconds); how fast a read is belongs in a
benchmark, not in a test's bound. The cards are the simulator's demo cards (``demo_card``), put on the virtual
reader as the card holds them; their photo block must never reach a log line or the result.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable, Iterator

import pytest

from config.id_card import IdCardSection
from devices.factory import build_id_card_reader
from devices.id_card import (
    IdCardData,
    IdCardError,
    IdCardPresent,
    IdCardRead,
    IdCardReadFailed,
    IdCardRemoved,
    IdCardRemovedError,
    IdReaderProtocolError,
    IdReaderStatus,
    IdReaderTimeout,
    NoIdCard,
)
from devices.serial_id_card_reader import SerialIdCardReader
from devices.simulated_id_card_reader import demo_card
from tests.support.serial_pty import EventLog
from tests.support.virtual_id_reader import (  # noqa: F401
    FIND,
    PHOTO_MARKER,
    READ_BASE,
    SELECT,
    VirtualIdCard,
    VirtualIdReader,
    virtual_id_reader,
)

TODAY = dt.date(2026, 12, 1)
BOUND_S = 30.0
ANSWER_TIMEOUT_S = 0.5


def is_status(state: str) -> Callable[[object], bool]:
    return lambda e: isinstance(e, IdReaderStatus) and e.state == state


def is_a(cls: type) -> Callable[[object], bool]:
    return lambda e: isinstance(e, cls)


@pytest.fixture
def reader(virtual_id_reader: VirtualIdReader) -> Iterator[tuple[SerialIdCardReader, EventLog]]:  # noqa: F811
    settings = IdCardSection(type="serial", port=virtual_id_reader.path, poll_interval_s=0.05,
                             answer_timeout_s=ANSWER_TIMEOUT_S, reconnect_interval_s=0.1)
    driver = build_id_card_reader(settings)
    assert isinstance(driver, SerialIdCardReader)
    events = EventLog()
    driver.subscribe(events)
    driver.start()
    events.wait_for(is_status("ready"), BOUND_S)
    yield driver, events
    driver.stop()


def read_event(events: EventLog) -> IdCardRead | IdCardReadFailed:
    event: IdCardRead | IdCardReadFailed = events.wait_for(
        lambda e: isinstance(e, IdCardRead | IdCardReadFailed), BOUND_S)
    return event


def test_a_card_read_gives_every_field(reader, virtual_id_reader: VirtualIdReader) -> None:  # noqa: F811
    driver, events = reader
    expected = demo_card("adult", TODAY)
    virtual_id_reader.insert(VirtualIdCard.of(expected))
    events.wait_for(is_a(IdCardPresent), BOUND_S)
    event = read_event(events)
    assert isinstance(event, IdCardRead), event
    card = event.card
    assert card == expected
    assert (card.name, card.address) == ("张伟", "北京市东城区东华门街道南池子大街12号")
    assert (card.gender, card.ethnicity, card.issuing_authority) == ("male", "汉", "北京市东城区公安分局")
    assert card.valid_to is not None and card.valid_from < card.valid_to
    assert driver.current_card() == card and driver.read_card() == card
    # the exact bytes the driver sent: FIND, SELECT, READ_BASE as the documentation writes them
    sent = virtual_id_reader.commands
    assert bytes.fromhex("AAAAAA9669 0003 2001 22") in sent
    assert bytes.fromhex("AAAAAA9669 0003 2002 21") in sent
    assert bytes.fromhex("AAAAAA9669 0003 3001 32") in sent
    virtual_id_reader.remove()
    events.wait_for(is_a(IdCardRemoved), BOUND_S)
    assert driver.current_card() is None


def test_long_term_card_and_minority_fields(reader, virtual_id_reader: VirtualIdReader) -> None:  # noqa: F811
    _, events = reader
    senior = demo_card("senior", TODAY)
    virtual_id_reader.insert(VirtualIdCard.of(senior, ethnicity="03"))
    event = read_event(events)
    assert isinstance(event, IdCardRead), event
    assert event.card.valid_to is None and event.card.long_term
    assert event.card.ethnicity == "回" and event.card.name == "刘桂兰"


def test_no_card_is_a_typed_result_and_the_next_read_works(reader, virtual_id_reader: VirtualIdReader) -> None:  # noqa: F811
    driver, events = reader
    with pytest.raises(NoIdCard) as caught:
        driver.read_card()
    assert caught.value.message_id == "id_card.no_card"
    virtual_id_reader.insert(VirtualIdCard.of(demo_card("child", TODAY)))
    event = read_event(events)
    assert isinstance(event, IdCardRead) and event.card.name == "李乐乐"


# (fault on READ_BASE, the error class, its message id)
FAULTS = [
    ("bad_checksum", IdReaderProtocolError, "id_card.checksum"),
    ("truncate", IdReaderProtocolError, "id_card.truncated"),
    ("slow", IdReaderTimeout, "id_card.timeout"),
    ("lose_card", IdCardRemovedError, "id_card.removed"),
    ("garbage", IdReaderProtocolError, "id_card.bad_frame"),
]


@pytest.mark.parametrize(("fault", "error", "message_id"), FAULTS)
def test_a_failed_read_is_typed_and_the_next_read_works(
    reader, virtual_id_reader: VirtualIdReader, fault: str, error: type, message_id: str,  # noqa: F811
) -> None:
    driver, events = reader
    card = VirtualIdCard.of(demo_card("adult", TODAY))
    virtual_id_reader.fault(READ_BASE, fault, delay_s=ANSWER_TIMEOUT_S * 1.6)
    virtual_id_reader.insert(card)
    event = read_event(events)
    assert isinstance(event, IdCardReadFailed), event
    assert isinstance(event.error, error) and event.error.message_id == message_id
    if fault == "lose_card":
        events.wait_for(is_a(IdCardRemoved), BOUND_S)
        virtual_id_reader.insert(card)  # put back on the reader
    else:
        driver.request_read()  # the screen's "try again"
    event = read_event(events)
    assert isinstance(event, IdCardRead), event
    assert event.card.id_number == card.id_number


@pytest.mark.parametrize(("fault", "error", "message_id"), FAULTS)
@pytest.mark.parametrize("command", [SELECT, READ_BASE], ids=["select", "read"])
def test_blocking_read_raises_the_typed_error_then_works(
    reader, virtual_id_reader: VirtualIdReader, fault: str, error: type, message_id: str,  # noqa: F811
    command: bytes,
) -> None:
    driver, events = reader
    card = VirtualIdCard.of(demo_card("adult", TODAY))
    virtual_id_reader.insert(card)
    assert isinstance(read_event(events), IdCardRead)
    virtual_id_reader.fault(command, fault, delay_s=ANSWER_TIMEOUT_S * 1.6)
    with pytest.raises(IdCardError) as caught:
        driver.read_card()
    assert isinstance(caught.value, error) and caught.value.message_id == message_id
    virtual_id_reader.insert(card)
    assert driver.read_card().id_number == card.id_number


@pytest.mark.parametrize(("command", "message_id"), [(SELECT, "id_card.select_failed"),
                                                     (READ_BASE, "id_card.read_failed")])
def test_a_failing_command_with_the_card_still_there(
    reader, virtual_id_reader: VirtualIdReader, command: bytes, message_id: str,  # noqa: F811
) -> None:
    driver, events = reader
    virtual_id_reader.insert(VirtualIdCard.of(demo_card("adult", TODAY)))
    assert isinstance(read_event(events), IdCardRead)
    virtual_id_reader.fault(command, "fail")
    with pytest.raises(IdCardError) as caught:
        driver.read_card()
    assert caught.value.message_id == message_id
    assert driver.read_card().name == "张伟"


def test_line_noise_before_an_answer_is_skipped(reader, virtual_id_reader: VirtualIdReader) -> None:  # noqa: F811
    driver, events = reader
    virtual_id_reader.insert(VirtualIdCard.of(demo_card("adult", TODAY)))
    assert isinstance(read_event(events), IdCardRead)
    virtual_id_reader.fault(READ_BASE, "noise")
    assert driver.read_card().name == "张伟"


def test_a_card_with_a_forged_id_number_is_refused(reader, virtual_id_reader: VirtualIdReader) -> None:  # noqa: F811
    driver, events = reader
    real = demo_card("adult", TODAY)
    forged = real.id_number[:-1] + ("0" if real.id_number[-1] != "0" else "1")
    virtual_id_reader.insert(VirtualIdCard.of(real, id_number=forged))
    event = read_event(events)
    assert isinstance(event, IdCardReadFailed) and event.error.message_id == "id_card.bad_id_number"
    assert driver.current_card() is None


def test_unplug_and_replug_recovers(reader, virtual_id_reader: VirtualIdReader) -> None:  # noqa: F811
    driver, events = reader
    card = VirtualIdCard.of(demo_card("adult", TODAY))
    virtual_id_reader.insert(card)
    assert isinstance(read_event(events), IdCardRead)
    virtual_id_reader.unplug()
    events.wait_for(is_a(IdCardRemoved), BOUND_S)
    lost = events.wait_for(lambda e: isinstance(e, IdReaderStatus) and not e.ready, BOUND_S)
    assert lost.message_id in ("id_card.status.recovering", "id_card.status.no_reader")
    with pytest.raises(IdCardError) as caught:
        driver.read_card()
    assert caught.value.message_id == "id_card.reader_unavailable"
    virtual_id_reader.replug()
    events.wait_for(is_status("ready"), BOUND_S)
    event = read_event(events)
    assert isinstance(event, IdCardRead) and event.card.id_number == card.id_number


def test_a_port_with_no_reader_behind_it_is_not_ready(virtual_id_reader: VirtualIdReader) -> None:  # noqa: F811
    virtual_id_reader.fault(FIND, "slow", delay_s=60)  # the pty opens, nothing answers
    settings = IdCardSection(type="serial", port=virtual_id_reader.path, poll_interval_s=0.05,
                             answer_timeout_s=0.2, reconnect_interval_s=0.1)
    driver = SerialIdCardReader(settings)
    events = EventLog()
    driver.subscribe(events)
    driver.start()
    try:
        events.wait_for(lambda e: isinstance(e, IdReaderStatus) and e.detail.startswith("3 answers"),
                        BOUND_S)
        assert not any(isinstance(e, IdReaderStatus) and e.ready for e in events.events)
    finally:
        driver.stop()


def test_no_log_line_or_result_holds_the_photo(
    reader, virtual_id_reader: VirtualIdReader, caplog: pytest.LogCaptureFixture,  # noqa: F811
) -> None:
    caplog.set_level(logging.DEBUG)
    driver, events = reader
    card = VirtualIdCard.of(demo_card("adult", TODAY))
    virtual_id_reader.insert(card)
    event = read_event(events)
    assert isinstance(event, IdCardRead)
    virtual_id_reader.fault(READ_BASE, "bad_checksum")
    driver.request_read()
    assert isinstance(read_event(events), IdCardReadFailed)
    assert driver.read_card() == event.card
    photo = card.photo
    assert any(photo in frame for frame in virtual_id_reader.sent)  # it did cross the line
    pieces = [photo[i:i + 16] for i in range(0, len(photo), 16)]
    texts = [r.getMessage() for r in caplog.records] + [repr(e) for e in events.events]
    assert texts and caplog.records
    for text in texts:
        raw = text.encode("utf-8", "surrogateescape")
        assert PHOTO_MARKER not in raw and PHOTO_MARKER.hex() not in text
        assert not any(p in raw or p.hex() in text for p in pieces)
        assert card.id_number not in text and card.name not in text  # masked in logs
    values = dataclasses.astuple(event.card)
    assert not any(isinstance(v, bytes) for v in values)
    assert set(IdCardData.__dataclass_fields__) == {
        "name", "gender", "ethnicity_code", "birth_date", "address", "id_number",
        "issuing_authority", "valid_from", "valid_to"}

