"""SimulatedCardReader, the tokens it reads, card errors and their translations (no I/O)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

import devices.card_reader as card_reader_module
from config.settings import CardReaderSection
from devices.card_reader import (
    CardAuthError,
    CardError,
    CardEvent,
    CardInserted,
    CardReader,
    CardRemoved,
    CardRemovedError,
    CardWriteError,
    ReaderStatus,
    ReaderUnavailable,
)
from devices.factory import build_card_reader
from devices.simulated_card_reader import SimulatedCardReader
from library_core.errors import ConfigError, DeviceError, TokenError
from library_core.i18n import LOCALE_DIR, translate
from library_core.mifare import TRANSPORT_KEY, CardKeys
from library_core.tokens import CardToken, decode_card_token, encode_card_token

KEY_A = "A1A2A3A4A5A6"  # the legacy fixed pair
KEY_B = "B1B2B3B4B5B6"
MASTER = b"unit-test-card-master-key-0123456789"
LIBRARY_KEY = b"unit-test-library-key-0123456789"
UID = bytes.fromhex("04A1B2C3")
TOKEN = CardToken("00000000012345", 3, dt.date(2030, 6, 30))


def token_bytes(uid: bytes = UID) -> bytes:
    return encode_card_token(TOKEN, uid, LIBRARY_KEY)


@pytest.fixture
def reader() -> SimulatedCardReader:
    sim = SimulatedCardReader(CardReaderSection(type="simulated", legacy_key_a=KEY_A,
                                                legacy_key_b=KEY_B), master_key=MASTER)
    sim.start()
    return sim


@pytest.fixture
def events(reader: SimulatedCardReader) -> list[CardEvent]:
    seen: list[CardEvent] = []
    reader.subscribe(seen.append)
    return seen


def test_simulator_is_a_card_reader_and_built_from_config() -> None:
    built = build_card_reader(CardReaderSection(type="simulated"))
    assert isinstance(built, SimulatedCardReader)
    assert isinstance(built, CardReader)


def test_unknown_type_is_a_config_error_naming_the_key() -> None:
    bogus = CardReaderSection(type="carrier-pigeon")  # type: ignore[arg-type]
    with pytest.raises(ConfigError) as error:
        build_card_reader(bogus)
    assert error.value.key == "card_reader.type"


def test_bad_key_in_settings_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as error:
        SimulatedCardReader(CardReaderSection(legacy_key_a="XYZ"))
    assert error.value.key == "card_reader.legacy_key_a"
    with pytest.raises(ConfigError) as short:
        SimulatedCardReader(master_key=b"short")
    assert short.value.key == "CARD_MASTER_KEY"


def test_a_blank_card_written_gets_its_own_keys_and_a_legacy_card_is_rekeyed(
    reader: SimulatedCardReader,
) -> None:
    blank = reader.tap(UID)
    assert (blank.key_a, blank.key_b) == (TRANSPORT_KEY, TRANSPORT_KEY)
    reader.write_token(UID, token_bytes())
    own = CardKeys(MASTER).for_card(UID)
    assert (blank.key_a, blank.key_b) == (own.key_a, own.key_b)

    other_uid = bytes.fromhex("04D5E6F7")
    legacy = reader.tap(other_uid, key_a=bytes.fromhex(KEY_A), key_b=bytes.fromhex(KEY_B))
    assert _reason(reader, other_uid) == "blank"  # read with the legacy key A
    reader.write_token(other_uid, token_bytes(other_uid))
    other = CardKeys(MASTER).for_card(other_uid)
    assert (legacy.key_a, legacy.key_b) == (other.key_a, other.key_b) != (own.key_a, own.key_b)
    assert _reason(reader, other_uid) == ""


def test_new_subscriber_is_told_the_current_state_at_once(reader: SimulatedCardReader) -> None:
    reader.tap(UID)
    late: list[CardEvent] = []
    reader.subscribe(late.append)
    assert late == [ReaderStatus("ready", "Simulated reader"), CardInserted(UID, "Simulated reader")]


def test_tap_and_remove_send_events_in_order(
    reader: SimulatedCardReader, events: list[CardEvent]
) -> None:
    reader.tap(UID)
    assert reader.current_uid() == UID
    reader.remove()
    reader.remove()  # nothing on the reader: no second event
    assert reader.current_uid() is None
    assert events == [
        ReaderStatus("ready", "Simulated reader"),
        CardInserted(UID, "Simulated reader"),
        CardRemoved("Simulated reader"),
    ]


def test_tapping_another_card_removes_the_first(
    reader: SimulatedCardReader, events: list[CardEvent]
) -> None:
    other = bytes.fromhex("04D5E6F7")
    reader.tap(UID)
    reader.tap(other)
    assert events[1:] == [
        CardInserted(UID, "Simulated reader"),
        CardRemoved("Simulated reader"),
        CardInserted(other, "Simulated reader"),
    ]


def test_unsubscribed_callback_hears_nothing_more(reader: SimulatedCardReader) -> None:
    seen: list[CardEvent] = []
    unsubscribe = reader.subscribe(seen.append)
    unsubscribe()
    reader.tap(UID)
    assert seen == [ReaderStatus("ready", "Simulated reader")]


def test_a_failing_subscriber_does_not_stop_the_others(reader: SimulatedCardReader) -> None:
    def broken(event: CardEvent) -> None:
        raise RuntimeError("subscriber bug")

    seen: list[CardEvent] = []
    reader.subscribe(broken)
    reader.subscribe(seen.append)
    reader.tap(UID)
    assert seen[-1] == CardInserted(UID, "Simulated reader")


def test_written_token_survives_pull_and_tap_again(reader: SimulatedCardReader) -> None:
    reader.tap(UID)
    reader.write_token(UID, token_bytes())
    reader.remove()
    reader.tap(UID)
    assert decode_card_token(reader.read_token(UID), UID, LIBRARY_KEY) == TOKEN


def test_wrong_key_is_an_auth_error(reader: SimulatedCardReader) -> None:
    reader.tap(UID, key_a=bytes(6), key_b=bytes(6))
    with pytest.raises(CardAuthError) as error:
        reader.read_token(UID)
    assert error.value.message_id == "card.auth_failed"
    with pytest.raises(CardWriteError) as write_error:
        reader.write_token(UID, token_bytes())
    assert write_error.value.message_id == "card.write_auth_failed"
    assert isinstance(write_error.value.__cause__, CardAuthError)


def test_io_without_the_card_says_removed_or_other_card(reader: SimulatedCardReader) -> None:
    with pytest.raises(CardRemovedError) as error:
        reader.read_token(UID)
    assert error.value.message_id == "card.removed"
    reader.tap(bytes.fromhex("04D5E6F7"))
    with pytest.raises(CardRemovedError) as other:
        reader.read_token(UID)
    assert other.value.message_id == "card.other_card"


@pytest.mark.parametrize("after_blocks", [1, 2])
def test_card_pulled_mid_write_is_not_issued(
    reader: SimulatedCardReader, events: list[CardEvent], after_blocks: int
) -> None:
    card = reader.tap(UID)
    reader.fail_next_write(after_blocks=after_blocks, cause="removed")
    with pytest.raises(CardWriteError) as error:
        reader.write_token(UID, token_bytes())
    assert error.value.message_id == "card.write_removed"
    assert events[-1] == CardRemoved("Simulated reader")
    assert bytes(card.data) != bytes(48)  # part of the write landed
    reader.tap(UID)
    with pytest.raises(TokenError) as refused:
        decode_card_token(reader.read_token(UID), UID, LIBRARY_KEY)
    assert refused.value.reason == "tampered"
    # the fault was for one write only: the retry works
    reader.write_token(UID, token_bytes())
    assert decode_card_token(reader.read_token(UID), UID, LIBRARY_KEY) == TOKEN


def test_read_back_mismatch_is_a_write_error(reader: SimulatedCardReader) -> None:
    reader.tap(UID)
    reader.fail_next_write(cause="verify")
    with pytest.raises(CardWriteError) as error:
        reader.write_token(UID, token_bytes())
    assert error.value.message_id == "card.write_verify_failed"


def test_write_needs_exactly_48_bytes(reader: SimulatedCardReader) -> None:
    reader.tap(UID)
    with pytest.raises(ValueError):
        reader.write_token(UID, b"short")


def test_reader_outage_is_reported_and_blocks_io(
    reader: SimulatedCardReader, events: list[CardEvent]
) -> None:
    reader.tap(UID)
    reader.set_status("no_service", "pcscd down")
    assert events[-2:] == [CardRemoved("Simulated reader"), ReaderStatus("no_service", "pcscd down")]
    with pytest.raises(ReaderUnavailable):
        reader.read_token(UID)
    with pytest.raises(CardWriteError) as error:
        reader.write_token(UID, token_bytes())
    assert error.value.message_id == "card.write_reader_unavailable"
    reader.set_status("ready")
    reader.tap(UID)
    assert reader.read_token(UID) == bytes(48)


def _reason(reader: SimulatedCardReader, uid: bytes) -> str:
    """Why the token the reader reads from ``uid`` is refused ("" if it verifies)."""
    try:
        decode_card_token(reader.read_token(uid), uid, LIBRARY_KEY)
    except TokenError as err:
        return err.reason
    return ""


def test_the_reader_hands_back_the_sector_as_written(reader: SimulatedCardReader) -> None:
    reader.tap(UID)
    assert _reason(reader, UID) == "blank"
    reader.tap(UID, b"\xff" * 48)
    assert _reason(reader, UID) == "blank"
    reader.tap(UID, token_bytes())
    assert _reason(reader, UID) == ""
    reader.tap(UID, b"\x03\x10\xd1" + bytes(45))
    assert _reason(reader, UID) == "foreign"
    copied = bytes.fromhex("04D5E6F7")
    reader.tap(copied, token_bytes(UID))
    assert _reason(reader, copied) == "other_card"
    other_keys = bytes.fromhex("04000001")
    reader.tap(other_keys, key_a=bytes(6), key_b=bytes(6))
    with pytest.raises(CardAuthError):
        reader.read_token(other_keys)


def test_card_errors_are_device_errors_with_their_own_message_ids() -> None:
    ids = {
        cls.message_id for cls in (CardError, CardAuthError, CardWriteError, CardRemovedError, ReaderUnavailable)
    }
    assert len(ids) == 5
    assert issubclass(CardError, DeviceError)


def _catalog_ids(language: str) -> dict[str, str]:
    text = (LOCALE_DIR / language / "LC_MESSAGES" / "card.po").read_text(encoding="utf-8")
    return dict(re.findall(r'^msgid "(.+)"\nmsgstr "(.*)"$', text, flags=re.MULTILINE))


def test_every_card_message_id_is_translated_in_both_languages() -> None:
    source = "".join(
        p.read_text(encoding="utf-8")
        for p in (Path(card_reader_module.__file__), *(Path(card_reader_module.__file__).with_name(n)
                  for n in ("pcsc_card_reader.py", "simulated_card_reader.py")))
    )
    used = set(re.findall(r'"(card\.[a-z_]+(?:\.[a-z_]+)?)"', source))
    used |= {f"card.status.{s}" for s in ("ready", "no_reader", "no_service", "recovering")}
    en, zh = _catalog_ids("en"), _catalog_ids("zh_CN")
    assert used <= set(en), used - set(en)
    assert set(en) == set(zh)
    for message_id in used:
        assert translate(message_id, "zh_CN") not in ("", message_id)
        assert translate(message_id, "en") not in ("", message_id)
        assert translate(message_id, "zh_CN") != translate(message_id, "en")
    assert ReaderStatus("no_reader").message_id in en
