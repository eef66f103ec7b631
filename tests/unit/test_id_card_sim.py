"""IdCardData checks, the simulated ID-card reader, its errors and their translations (no I/O)."""

from __future__ import annotations

import datetime as dt
import inspect
import re

import pytest
from stdnum.cn import ric

import devices.id_card as id_card_module
from config.id_card import IdCardSection
from devices.factory import build_id_card_reader
from devices.id_card import (
    IdCardData,
    IdCardDataError,
    IdCardError,
    IdCardEvent,
    IdCardPresent,
    IdCardRead,
    IdCardReader,
    IdCardReadFailed,
    IdCardRemoved,
    IdReaderStatus,
    IdReaderTimeout,
    IdReaderUnavailable,
    NoIdCard,
)
from devices.simulated_id_card_reader import SimulatedIdCardReader, demo_card
from library_core.clock import FixedClock
from library_core.errors import ConfigError
from library_core.i18n import has_message

TODAY = dt.date(2026, 12, 1)
CLOCK = FixedClock(dt.datetime(2026, 12, 1, 10, 0))
FIELDS = dict(name="张伟", gender_code="1", ethnicity_code="01", birth_date="19911025",
              address="北京市东城区南池子大街12号", id_number="11010119911025123X",
              issuing_authority="北京市公安局东城分局", valid_from="20200101", valid_to="20400101")


def fields(**changes: str) -> dict[str, str]:
    return FIELDS | changes


def test_demo_cards_hold_valid_id_numbers_by_an_independent_check() -> None:
    for kind in ("adult", "child", "senior", "expired", "long_term"):
        card = demo_card(kind, TODAY)
        assert ric.is_valid(card.id_number), kind  # python-stdnum's own GB 11643
        assert card.birth_date == ric.get_birth_date(card.id_number)
    assert demo_card("expired", TODAY).expired(TODAY)
    assert not demo_card("adult", TODAY).expired(TODAY)
    assert demo_card("senior", TODAY).long_term
    assert (TODAY - demo_card("child", TODAY).birth_date).days < 14 * 365


def test_fields_become_a_checked_card() -> None:
    first17 = FIELDS["id_number"][:17]
    from library_core.identity import id_check_char
    card = IdCardData.from_fields(**fields(id_number=first17 + id_check_char(first17)))
    assert (card.name, card.gender, card.ethnicity, card.birth_date) == (
        "张伟", "male", "汉", dt.date(1991, 10, 25))
    assert card.valid_to == dt.date(2040, 1, 1) and not card.long_term
    assert "张伟" not in repr(card) and card.id_number not in repr(card)
    long_term = IdCardData.from_fields(**fields(id_number=card.id_number, valid_to="长期"))
    assert long_term.valid_to is None and not long_term.expired(dt.date(2200, 1, 1))


@pytest.mark.parametrize(("changes", "message_id"), [
    ({"id_number": "110101199110251230"}, "id_card.bad_id_number"),  # check character wrong
    ({"birth_date": "19911026"}, "id_card.bad_date"),  # differs from the number's
    ({"birth_date": "19911325"}, "id_card.bad_date"),
    ({"gender_code": "2"}, "id_card.bad_gender"),  # the number says male
    ({"gender_code": "9"}, "id_card.bad_gender"),
    ({"ethnicity_code": "x1"}, "id_card.bad_ethnicity"),
    ({"name": ""}, "id_card.bad_name"),
    ({"valid_to": "20190101"}, "id_card.bad_validity"),
    ({"valid_from": "1990101"}, "id_card.bad_date"),
    ({"address": "北京\x00市"}, "id_card.bad_text"),
])
def test_bad_fields_are_refused_with_a_named_reason(changes: dict[str, str], message_id: str) -> None:
    good = IdCardData.from_fields(**fields(id_number=demo_card("adult", TODAY).id_number,
                                           birth_date=f"{demo_card('adult', TODAY).birth_date:%Y%m%d}"))
    base = fields(id_number=good.id_number, birth_date=f"{good.birth_date:%Y%m%d}")
    with pytest.raises(IdCardDataError) as caught:
        IdCardData.from_fields(**(base | changes))
    assert caught.value.message_id == message_id


def test_simulator_reads_a_placed_card_and_reports_removal() -> None:
    reader = SimulatedIdCardReader(clock=CLOCK)
    assert isinstance(reader, IdCardReader)
    events: list[IdCardEvent] = []
    reader.subscribe(events.append)
    reader.start()
    with pytest.raises(NoIdCard):
        reader.read_card()
    card = reader.place("adult")
    assert events[-2:] == [IdCardPresent(reader.reader_name), IdCardRead(card, reader.reader_name)]
    assert reader.read_card() == card and reader.current_card() == card
    late: list[IdCardEvent] = []
    reader.subscribe(late.append)  # told the current state at once
    assert [type(e) for e in late] == [IdReaderStatus, IdCardPresent, IdCardRead]
    reader.remove()
    assert events[-1] == IdCardRemoved(reader.reader_name) and reader.current_card() is None


def test_simulator_failures_are_typed_and_the_next_read_works() -> None:
    reader = SimulatedIdCardReader(IdCardSection(simulated_card="senior"), clock=CLOCK)
    events: list[IdCardEvent] = []
    reader.subscribe(events.append)
    reader.fail_next_read(IdReaderTimeout("id_card.timeout", "test"))
    reader.start()
    failed = events[-1]
    assert isinstance(failed, IdCardReadFailed) and failed.error.message_id == "id_card.timeout"
    reader.request_read()
    assert isinstance(events[-1], IdCardRead) and events[-1].card.long_term
    reader.set_status("no_reader")
    with pytest.raises(IdReaderUnavailable):
        reader.read_card()
    assert isinstance(events[-2], IdCardRemoved)


def test_factory_picks_by_type() -> None:
    assert isinstance(build_id_card_reader(IdCardSection(type="simulated"), clock=CLOCK),
                      SimulatedIdCardReader)
    with pytest.raises(ConfigError, match="id_card.port"):
        build_id_card_reader(IdCardSection(type="serial"))


def test_every_error_and_status_has_both_translations() -> None:
    ids = {cls.message_id for _, cls in inspect.getmembers(id_card_module, inspect.isclass)
           if issubclass(cls, IdCardError)}
    ids |= {IdReaderStatus(s).message_id for s in ("ready", "no_reader", "recovering")}
    ids |= set(re.findall(r'"(id_card\.[a-z_.]+)"', inspect.getsource(id_card_module)))
    missing = [(i, lang) for i in sorted(ids) for lang in ("zh_CN", "en") if not has_message(i, lang)]
    assert len(ids) > 15 and not missing


@pytest.mark.parametrize(("raw", "key"), [
    ({"id_card": {"type": "usb"}}, "id_card.type"),
    ({"id_card": {"answer_timeout_s": 0.0}}, "id_card.answer_timeout_s"),
    ({"id_card": {"poll_interval_s": 9.0}}, "id_card.poll_interval_s"),
    ({"id_card": {"simulated_card": "alien"}}, "id_card.simulated_card"),
    ({"id_card": {"colour": "red"}}, "id_card.colour"),
    ({"voice": {"volume": 1.5}}, "voice.volume"),
    ({"voice": {"enabled": 1}}, "voice.enabled"),
])
def test_bad_id_card_and_voice_config_names_the_key(raw: dict[str, object], key: str) -> None:
    from config.settings import parse_config

    with pytest.raises(ConfigError) as caught:
        parse_config(raw)
    assert caught.value.key == key


def test_id_card_and_voice_config_load() -> None:
    from config.settings import parse_config

    doc = parse_config({"id_card": {"type": "serial", "port": "/dev/ttyUSB0", "answer_timeout_s": 2.0},
                        "voice": {"volume": 0.5}})
    assert (doc.id_card.port, doc.id_card.answer_timeout_s, doc.voice.volume) == ("/dev/ttyUSB0", 2.0, 0.5)
