"""PcscCardReader against the real stack: pcscd + vsmartcard-vpcd + a virtual MIFARE card.

Every wait is bounded (``queue.Queue.get(timeout=...)``); nothing here measures time.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from smartcard.pcsc.PCSCExceptions import BaseSCardException
from smartcard.scard import SCARD_E_NO_SERVICE

from config.settings import CardReaderSection
from devices.card_reader import (
    CardAuthError,
    CardEvent,
    CardInserted,
    CardRemoved,
    CardRemovedError,
    CardWriteError,
    ReaderStatus,
    ReaderUnavailable,
)
from devices.factory import build_card_reader
from devices.pcsc_card_reader import UID_READ_S, PcscCardReader
from library_core.errors import TokenError
from library_core.i18n import translate
from library_core.mifare import CardKeys, SectorKeys
from library_core.tokens import CardToken, decode_card_token, encode_card_token
from tests.support.pcscd import VIRTUAL_READER, PcscDaemon, pcscd  # noqa: F401
from tests.support.virtual_card import VirtualCard

pytestmark = pytest.mark.pcsc

KEY_A = bytes.fromhex("A1A2A3A4A5A6")  # the legacy fixed pair (cards issued before per-card keys)
KEY_B = bytes.fromhex("B1B2B3B4B5B6")
MASTER_KEY = b"integration-test-card-master-key-0123456789"
LIBRARY_KEY = b"integration-test-library-key-0123456789"
UID = bytes.fromhex("04A1B2C3")
WAIT = 10.0  # upper bound for one event; taps take well under a second


def settings(**overrides: Any) -> CardReaderSection:
    values: dict[str, Any] = dict(
        type="pcsc", reader_name=VIRTUAL_READER, sector=1,
        legacy_key_a=KEY_A.hex().upper(), legacy_key_b=KEY_B.hex().upper(), poll_interval_s=0.05,
    )
    values.update(overrides)
    return CardReaderSection(**values)


def own_keys(uid: bytes) -> SectorKeys:
    """The keys the kiosk gives the card with ``uid`` when it issues it."""
    return CardKeys(MASTER_KEY).for_card(uid)


def issued_card(uid: bytes) -> VirtualCard:
    """A card the kiosk issued: its token sector locked with its own keys."""
    keys = own_keys(uid)
    return VirtualCard(uid, sector=1, key_a=keys.key_a, key_b=keys.key_b)


def token_for(uid: bytes, card_no: str = "00000000012345", generation: int = 1) -> bytes:
    return encode_card_token(CardToken(card_no, generation, dt.date(2030, 6, 30)), uid, LIBRARY_KEY)


class Events:
    """The reader's events in a queue, with bounded waits for the one a test expects."""

    def __init__(self) -> None:
        self.queue: queue.Queue[CardEvent] = queue.Queue()
        self.seen: list[CardEvent] = []

    def __call__(self, event: CardEvent) -> None:
        self.queue.put(event)

    def wait_for(self, match: Callable[[CardEvent], bool], timeout: float = WAIT) -> CardEvent:
        while True:
            try:
                event = self.queue.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"no matching event within {timeout} s; saw {self.seen}") from None
            self.seen.append(event)
            if match(event):
                return event

    def none_within(self, match: Callable[[CardEvent], bool], timeout: float) -> None:
        """Fails if an event ``match`` accepts comes within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                event = self.queue.get(timeout=left)
            except queue.Empty:
                return
            self.seen.append(event)
            assert not match(event), f"unexpected {event}"

    def inserted(self) -> CardInserted:
        event = self.wait_for(lambda e: isinstance(e, CardInserted))
        assert isinstance(event, CardInserted)
        return event

    def removed(self) -> CardRemoved:
        event = self.wait_for(lambda e: isinstance(e, CardRemoved))
        assert isinstance(event, CardRemoved)
        return event

    def status(self, *states: str) -> ReaderStatus:
        event = self.wait_for(lambda e: isinstance(e, ReaderStatus) and e.state in states)
        assert isinstance(event, ReaderStatus)
        return event


@pytest.fixture
def events() -> Events:
    return Events()


@pytest.fixture
def reader(pcscd: PcscDaemon, events: Events) -> Iterator[PcscCardReader]:  # noqa: F811
    card_reader = build_card_reader(settings(), master_key=MASTER_KEY)
    assert isinstance(card_reader, PcscCardReader)
    card_reader.subscribe(events)
    card_reader.start()
    events.status("ready")
    try:
        yield card_reader
    finally:
        card_reader.stop()


@pytest.fixture
def card() -> Iterator[VirtualCard]:
    virtual = issued_card(UID)
    try:
        yield virtual
    finally:
        virtual.remove()


def tap(card: VirtualCard, events: Events) -> bytes:
    card.insert()
    return events.inserted().uid


def pull(card: VirtualCard, events: Events) -> None:
    card.remove()
    events.removed()


def test_tap_reports_the_uid_and_pull_reports_removal(
    reader: PcscCardReader, card: VirtualCard, events: Events
) -> None:
    assert reader.current_uid() is None
    card.insert()
    inserted = events.inserted()
    assert inserted == CardInserted(UID, VIRTUAL_READER)
    assert reader.current_uid() == UID

    late: list[CardEvent] = []
    unsubscribe = reader.subscribe(late.append)  # told the current state at once
    assert late == [ReaderStatus("ready", VIRTUAL_READER), CardInserted(UID, VIRTUAL_READER)]
    unsubscribe()

    pull(card, events)
    assert reader.current_uid() is None
    assert len(late) == 2


def test_written_token_reads_back_after_pull_and_tap_again(
    reader: PcscCardReader, card: VirtualCard, events: Events
) -> None:
    uid = tap(card, events)
    assert token_reason(reader, uid) == "blank"
    token = token_for(uid)

    reader.write_token(uid, token)

    assert card.sector_data(1) == token
    pull(card, events)
    uid_again = tap(card, events)
    assert uid_again == uid
    data = reader.read_token(uid_again)
    assert data == token
    assert decode_card_token(data, uid_again, LIBRARY_KEY) == CardToken(
        "00000000012345", 1, dt.date(2030, 6, 30)
    )
    # The token was written with key B and read with key A, the card's own keys.
    auths = [a for a in card.apdus if a[:2] == b"\xff\x86"]
    assert {a[8] for a in auths} == {0x60, 0x61}


def test_wrong_key_is_refused_with_a_clear_message(
    reader: PcscCardReader, events: Events
) -> None:
    other = VirtualCard(UID, sector=1, key_a=bytes(6), key_b=bytes.fromhex("010203040506"))
    other.set_sector_data(1, b"\x11" * 48)
    try:
        uid = tap(other, events)
        with pytest.raises(CardAuthError) as read_error:
            reader.read_token(uid)
        assert read_error.value.message_id == "card.auth_failed"
        for language in ("zh_CN", "en"):
            assert translate("card.auth_failed", language) != "card.auth_failed"

        with pytest.raises(CardWriteError) as write_error:
            reader.write_token(uid, token_for(uid))
        assert write_error.value.message_id == "card.write_auth_failed"
        assert isinstance(write_error.value.__cause__, CardAuthError)
        assert other.sector_data(1) == b"\x11" * 48  # nothing was written
    finally:
        other.remove()


@pytest.mark.parametrize(
    ("start", "answered"),
    [("blank", 4), ("blank", 5), ("issued", 5)],
    ids=["after-block-1", "after-block-2", "rewrite-after-block-2"],
)
def test_card_pulled_mid_write_is_not_issued(
    reader: PcscCardReader, card: VirtualCard, events: Events, start: str, answered: int
) -> None:
    # A write is: GET UID, LOAD KEY B, AUTH B, then UPDATE BINARY x3; answering 4 or 5 APDUs
    # means the card vanishes after the first or second block landed.
    old = token_for(UID, generation=1) if start == "issued" else bytes(48)
    card.set_sector_data(1, old)
    uid = tap(card, events)
    new = token_for(uid, card_no="00000000067890", generation=2)
    card.fail_after(answered)

    with pytest.raises(CardWriteError) as error:
        reader.write_token(uid, new)

    assert error.value.message_id == "card.write_removed"
    assert isinstance(error.value.__cause__, CardRemovedError)
    events.removed()
    memory = card.sector_data(1)
    assert memory not in (old, new)  # part of the write really landed
    with pytest.raises(TokenError):
        decode_card_token(memory, uid, LIBRARY_KEY)

    # Tapped again, the card reads as a broken library card, never as an issued one.
    uid = tap(card, events)
    assert token_reason(reader, uid) == "tampered"


def token_reason(reader: PcscCardReader, uid: bytes) -> str:
    """Why the token read from the card is refused ("" if it verifies), as the card service
    reads it: ``read_token`` through pcscd, then ``decode_card_token``."""
    try:
        decode_card_token(reader.read_token(uid), uid, LIBRARY_KEY)
    except TokenError as err:
        return err.reason
    return ""


def test_blank_library_and_foreign_cards_read_as_written(
    reader: PcscCardReader, events: Events
) -> None:
    def reason(virtual: VirtualCard) -> str:
        try:
            return token_reason(reader, tap(virtual, events))
        finally:
            pull(virtual, events)

    blank = VirtualCard(UID, library_access=False)  # factory-fresh: transport key
    assert reason(blank) == "blank"
    legacy_blank = VirtualCard(UID, key_a=KEY_A, key_b=KEY_B)  # formatted with the legacy pair
    assert reason(legacy_blank) == "blank"
    blank_ff = VirtualCard(UID, key_a=KEY_A, key_b=KEY_B)
    blank_ff.set_sector_data(1, b"\xff" * 48)
    assert reason(blank_ff) == "blank"

    issued = VirtualCard(UID, key_a=KEY_A, key_b=KEY_B)
    issued.set_sector_data(1, token_for(UID))
    try:
        uid = tap(issued, events)
        data = reader.read_token(uid)
    finally:
        pull(issued, events)
    assert decode_card_token(data, uid, LIBRARY_KEY) == CardToken(
        "00000000012345", 1, dt.date(2030, 6, 30))

    other_data = VirtualCard(UID, key_a=KEY_A, key_b=KEY_B)
    ndef = b"\x03\x10\xd1\x01\x0cU\x04example.com\xfe"  # an NDEF URI record, not ours
    other_data.set_sector_data(1, ndef.ljust(48, b"\x00"))
    assert reason(other_data) == "foreign"

    other_keys = VirtualCard(UID, key_a=bytes.fromhex("0F0E0D0C0B0A"), key_b=bytes.fromhex("0A0B0C0D0E0F"))
    try:
        uid = tap(other_keys, events)
        with pytest.raises(CardAuthError):
            reader.read_token(uid)
    finally:
        pull(other_keys, events)

    copied = issued.clone(bytes.fromhex("04D5E6F7"))  # same data, another UID
    assert reason(copied) == "other_card"


def test_a_card_slow_to_give_its_uid_is_still_reported(
    reader: PcscCardReader, card: VirtualCard, events: Events
) -> None:
    # A busy kiosk (or a reader slow to power the card) fails many quick UID reads in a row;
    # the tap must not be lost for that. 1.5 s is 25 or more of the driver's polls.
    card.slow_uid(1.5)
    assert tap(card, events) == UID
    assert reader.current_uid() == UID


def test_a_card_that_never_gives_its_uid_is_ignored_until_tapped_again(
    reader: PcscCardReader, card: VirtualCard, events: Events, caplog: pytest.LogCaptureFixture
) -> None:
    card.slow_uid(UID_READ_S + 1.5)  # still "powering up" when the driver gives up on it
    with caplog.at_level(logging.WARNING, logger="devices.pcsc_card_reader"):
        card.insert()
        events.none_within(lambda e: isinstance(e, CardInserted), UID_READ_S + 2.0)
    assert reader.current_uid() is None
    assert any("gave no UID" in r.getMessage() for r in caplog.records)

    card.remove()
    card.slow_uid(0)
    assert tap(card, events) == UID  # lifted and tapped again: read at once


def test_another_card_on_the_reader_is_not_mistaken_for_the_first(
    reader: PcscCardReader, card: VirtualCard, events: Events
) -> None:
    uid = tap(card, events)
    with pytest.raises(CardRemovedError) as error:
        reader.read_token(bytes.fromhex("04000000"))
    assert error.value.message_id == "card.other_card"
    assert reader.read_token(uid) == bytes(48)


def test_no_matching_reader_is_reported(pcscd: PcscDaemon, events: Events) -> None:  # noqa: F811
    missing = PcscCardReader(settings(reader_name="No Such Reader 99"), master_key=MASTER_KEY)
    missing.subscribe(events)
    missing.start()
    try:
        status = events.status("no_reader")
        assert "No Such Reader 99" in status.detail
        with pytest.raises(ReaderUnavailable):
            missing.read_token(UID)
        with pytest.raises(CardWriteError) as error:
            missing.write_token(UID, token_for(UID))
        assert error.value.message_id == "card.write_reader_unavailable"
    finally:
        missing.stop()


def test_pcscd_killed_and_restarted_recovers_without_restarting_the_driver(
    pcscd: PcscDaemon, reader: PcscCardReader, card: VirtualCard, events: Events  # noqa: F811
) -> None:
    uid = tap(card, events)
    reader.write_token(uid, token_for(uid))

    pcscd.kill()  # as if it crashed: SIGKILL

    events.removed()  # the card cannot be trusted to be there any more
    outage = events.status("recovering", "no_service")
    assert not outage.ready
    assert card.wait_removed(WAIT)  # vpcd's socket died with pcscd
    with pytest.raises(ReaderUnavailable) as down:
        reader.read_token(uid)
    assert isinstance(down.value.__cause__, BaseSCardException)  # wrapped at the driver's edge
    assert down.value.__cause__.hresult == SCARD_E_NO_SERVICE

    pcscd.start()

    events.status("ready")
    uid_again = tap(card, events)  # the same driver object, never restarted
    assert uid_again == uid
    assert decode_card_token(reader.read_token(uid_again), uid_again, LIBRARY_KEY).card_no == (
        "00000000012345"
    )


def test_reader_unplugged_then_plugged_back_is_reported_and_recovered(
    pcscd: PcscDaemon, reader: PcscCardReader, card: VirtualCard, events: Events  # noqa: F811
) -> None:
    # vpcd readers cannot be hot-unplugged; pcscd restarted without them is the reader gone.
    pcscd.restart(with_reader=False)

    status = events.status("no_reader")
    assert VIRTUAL_READER in status.detail
    with pytest.raises(ReaderUnavailable):
        reader.read_token(UID)

    pcscd.restart(with_reader=True)

    events.status("ready")
    assert tap(card, events) == UID
    assert reader.read_token(UID) == bytes(48)
