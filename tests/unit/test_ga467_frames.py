"""GA 467 frames: the documented command bytes, answers, and a hypothesis fuzz of the parser.

The fuzz feeds thousands of random and mutated answer frames (built by the virtual reader's own
encoder from demo cards) to ``take_frame`` / ``parse_answer`` / ``decode_base_info``: each
either gives an answer or a card, or raises an ``IdCardError`` with a known message id; nothing
else escapes.
"""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devices import ga467
from devices.id_card import IdCardData, IdCardError, IdReaderProtocolError
from devices.simulated_id_card_reader import demo_card
from tests.support.virtual_id_reader import VirtualIdCard, answer_frame

TODAY = dt.date(2026, 12, 1)
KNOWN_IDS = {
    "id_card.bad_frame", "id_card.truncated", "id_card.checksum", "id_card.reader_checksum",
    "id_card.unknown_status", "id_card.no_card", "id_card.select_failed", "id_card.read_failed",
    "id_card.bad_data", "id_card.bad_name", "id_card.bad_gender", "id_card.bad_ethnicity",
    "id_card.bad_id_number", "id_card.bad_date", "id_card.bad_validity", "id_card.bad_text",
}
CARD = VirtualIdCard.of(demo_card("adult", TODAY))
GOOD_READ = answer_frame(0x90, CARD.base_info())
SEEDS = [GOOD_READ, answer_frame(0x9F, bytes(4)), answer_frame(0x80), answer_frame(0x90, bytes(8)),
         answer_frame(0x41), answer_frame(0x10)]


def test_commands_are_the_documented_bytes() -> None:
    assert ga467.build_command(ga467.FIND) == bytes.fromhex("AAAAAA96690003200122")
    assert ga467.build_command(ga467.SELECT) == bytes.fromhex("AAAAAA96690003200221")
    assert ga467.build_command(ga467.READ_BASE) == bytes.fromhex("AAAAAA96690003300132")


def test_a_read_answer_decodes_to_the_card_and_drops_the_photo() -> None:
    frame, rest = ga467.take_frame(b"\x00junk" + GOOD_READ + b"\xaa\xaa")
    assert frame == GOOD_READ and rest == b"\xaa\xaa"
    answer = ga467.parse_answer(frame)
    assert answer.sw3 == ga467.Status.OK and "photo" not in repr(answer)
    card = ga467.decode_base_info(answer.data)
    assert card == demo_card("adult", TODAY)
    assert CARD.photo[:32].hex() not in repr(answer) + repr(card)


@pytest.mark.parametrize(("sw3", "message_id"), [
    (0x80, "id_card.no_card"), (0x81, "id_card.select_failed"), (0x41, "id_card.read_failed"),
    (0x10, "id_card.reader_checksum"), (0x24, "id_card.unknown_status"), (0x33, "id_card.unknown_status"),
])
def test_statuses_map_to_typed_errors(sw3: int, message_id: str) -> None:
    assert ga467.status_error(sw3, ga467.SELECT).message_id == message_id


def test_find_answers() -> None:
    assert ga467.card_found(ga467.parse_answer(answer_frame(0x9F, bytes(4))))
    assert not ga467.card_found(ga467.parse_answer(answer_frame(0x80)))
    with pytest.raises(IdReaderProtocolError):  # a late READ answer is no FIND answer
        ga467.card_found(ga467.parse_answer(GOOD_READ))


def test_a_huge_length_is_refused_at_once() -> None:
    with pytest.raises(IdReaderProtocolError) as caught:
        ga467.take_frame(ga467.PREAMBLE + b"\xff\xff\x00")
    assert caught.value.message_id == "id_card.bad_frame"


def _outcome(stream: bytes) -> None:
    """Run the parser on ``stream``; only answers, cards or known IdCardErrors may come out."""
    buffer = stream
    for _ in range(8):
        try:
            frame, buffer = ga467.take_frame(buffer)
        except IdCardError as err:
            assert err.message_id in KNOWN_IDS
            return
        if frame is None:
            return
        try:
            answer = ga467.parse_answer(frame)
            if answer.sw3 == ga467.Status.OK and len(answer.data) > 8:
                assert isinstance(ga467.decode_base_info(answer.data), IdCardData)
            elif answer.sw3 != ga467.Status.OK:
                assert ga467.status_error(answer.sw3, ga467.READ_BASE).message_id in KNOWN_IDS
        except IdCardError as err:
            assert err.message_id in KNOWN_IDS, err


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    frame = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "set", "cut", "insert", "length"]))
        if not frame:
            break
        at = draw(st.integers(0, len(frame) - 1))
        if op == "flip":
            frame[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "set":
            frame[at] = draw(st.integers(0, 255))
        elif op == "cut":
            del frame[at:at + draw(st.integers(1, 300))]
        elif op == "insert":
            frame[at:at] = draw(st.binary(max_size=40))
        elif len(frame) > 7:
            frame[5:7] = draw(st.integers(0, 0xFFFF)).to_bytes(2, "big")
    return bytes(frame)


def _fix_checksum(frame: bytes) -> bytes:
    """The same frame with a correct CHK (so the mutation reaches the text decoder)."""
    if len(frame) < 8:
        return frame
    return frame[:-1] + bytes([ga467.checksum(frame[5:-1])])


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(), st.booleans())
def test_fuzz_mutated_frames_give_only_known_results(frame: bytes, fix: bool) -> None:
    _outcome(_fix_checksum(frame) if fix else frame)


@settings(max_examples=2000, deadline=None)
@given(st.binary(max_size=2000))
def test_fuzz_random_bytes_give_only_known_results(noise: bytes) -> None:
    _outcome(noise)
    _outcome(ga467.PREAMBLE + noise)


@st.composite
def mutated_text(draw: st.DrawFn) -> bytes:
    """Base information with random UCS-2 units written into the text block (checksum right)."""
    data = bytearray(CARD.base_info())
    for _ in range(draw(st.integers(1, 8))):
        at = 4 + 2 * draw(st.integers(0, 127))
        data[at:at + 2] = draw(st.integers(0, 0xFFFF)).to_bytes(2, "little")
    return bytes(data)


@settings(max_examples=2000, deadline=None)
@given(mutated_text())
def test_fuzz_text_fields_give_a_checked_card_or_a_named_refusal(data: bytes) -> None:
    try:
        card = ga467.decode_base_info(data)
    except IdCardError as err:
        assert err.message_id in KNOWN_IDS, err
    else:
        assert len(card.id_number) == 18 and card.birth_date.year >= 1900
