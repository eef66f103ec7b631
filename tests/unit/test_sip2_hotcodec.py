"""The hand-written 09/10 codec (``server_client.sip2.hotcodec``) against pysip2's codec on the
same messages: the same bytes out, the same fields back for everything pysip2 accepts, and
``None`` (pysip2 decides, and refuses) for everything it refuses; every frame also against the ``sip2`` package's independent checksum."""

from __future__ import annotations

import zlib

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pysip2 import (
    CheckinRequest,
    CheckinResponse,
    SIP2ChecksumError,
    SIP2CodecError,
    SIP2UnknownCommand,
    calculate_checksum,
    decode_message,
    encode_message,
)
from Sip2.sip2 import Sip2 as IndependentSip2

from server_client.sip2.hotcodec import (
    byte_sum,
    checksum,
    decode_checkin_response,
    encode_checkin,
)
from server_client.sip2.wire import ENCODINGS

# text a reader's ILS may send: Chinese, Latin, SIP2's own delimiters and control characters
TEXT = st.text(st.sampled_from("红楼梦三体预约架还书ÄäÖöüß abcXYZ0129-_/:.|\r\x00\n€"),
               max_size=12) | st.text(max_size=8)
FIELD = st.text(st.sampled_from("AB0123456789 CITYLIB"), max_size=20) | TEXT
DATE = st.sampled_from(["20261201    100000", "20261201ZZZZ235959", "2026120110:00:00xx",
                        "20261201    10000"])
SEQ = st.none() | st.integers(min_value=-1, max_value=11)


def independent_checksum_ok(frame: bytes) -> bool:
    body = frame.rstrip(b"\r")
    return IndependentSip2()._crc_calc(body[:-4].decode("latin-1")).zfill(4) == \
        body[-4:].decode("ascii")


def pysip2_frame(message: object, seq: int | None, checksum_on: bool,
                 encoding: str) -> bytes | type[Exception]:
    try:
        return encode_message(message, sequence_number=seq, checksum=checksum_on,  # type: ignore[arg-type]
                              encoding=encoding)
    except (SIP2CodecError, UnicodeEncodeError) as err:
        return type(err)


@st.composite
def checkin_requests(draw: st.DrawFn) -> CheckinRequest:
    return CheckinRequest(
        no_block=draw(st.sampled_from(["Y", "N", "y", ""])), transaction_date=draw(DATE),
        return_date=draw(DATE), current_location=draw(FIELD), institution_id=draw(FIELD),
        item_identifier=draw(FIELD), terminal_password=draw(FIELD),
        item_properties=draw(st.none() | FIELD), cancel=draw(st.sampled_from([None, "Y", "x"])))


@st.composite
def checkin_responses(draw: st.DrawFn) -> CheckinResponse:
    return CheckinResponse(
        ok=draw(st.sampled_from("01")), resensitize=draw(st.sampled_from("YN")),
        magnetic_media=draw(st.sampled_from("YNU")), alert=draw(st.sampled_from("YN")),
        transaction_date=draw(DATE.filter(lambda d: len(d) == 18 and ":" not in d)),
        institution_id=draw(FIELD), item_identifier=draw(FIELD),
        permanent_location=draw(FIELD), title_identifier=draw(st.none() | TEXT),
        sort_bin=draw(st.none() | FIELD), patron_identifier=draw(st.none() | FIELD),
        media_type=draw(st.sampled_from([None, "001", "12"])),
        item_properties=draw(st.none() | TEXT),
        screen_message=tuple(draw(st.lists(TEXT, max_size=3))),
        print_line=tuple(draw(st.lists(TEXT, max_size=3))))


@settings(max_examples=300, deadline=None)
@given(checkin_requests(), SEQ, st.booleans(), st.sampled_from(ENCODINGS))
# found by hypothesis: pysip2 refuses the item's "|" before it meets the "€" cp850 cannot carry
@example(CheckinRequest(no_block="Y", transaction_date="20261201    100000",
                        return_date="20261201    100000", current_location="", institution_id="",
                        item_identifier="|", terminal_password="€"), 1, True, "cp850")
def test_09_same_bytes_as_pysip2_and_left_to_it_where_it_refuses(
        req: CheckinRequest, seq: int | None, checksum_on: bool, encoding: str) -> None:
    expected = pysip2_frame(req, seq, checksum_on, encoding)
    try:
        ours: bytes | None | type[Exception] = encode_checkin(
            req, seq, checksum_on=checksum_on, encoding=encoding)
    except UnicodeEncodeError:
        ours = UnicodeEncodeError
    if isinstance(expected, bytes):
        assert ours == expected  # whatever pysip2 writes, we write the same, by the fast path
    else:
        assert ours in (None, expected)  # pysip2 refuses: we leave it to pysip2 (or fail alike)
    if isinstance(ours, bytes) and checksum_on:
        assert independent_checksum_ok(ours)


def _pysip2_decode(frame: bytes, encoding: str) -> tuple[object, int | None] | None:
    try:
        decoded = decode_message(frame, encoding=encoding)
    except (SIP2CodecError, SIP2ChecksumError, SIP2UnknownCommand, UnicodeDecodeError):
        return None
    return decoded.message, decoded.sequence_number


@settings(max_examples=300, deadline=None)
@given(checkin_responses(), SEQ.filter(lambda s: s is None or 0 <= s <= 9), st.booleans(),
       st.sampled_from(ENCODINGS))
def test_10_same_fields_back_as_pysip2(resp: CheckinResponse, seq: int | None,
                                       checksum_on: bool, encoding: str) -> None:
    frame = pysip2_frame(resp, seq if checksum_on else None, checksum_on, encoding)
    if not isinstance(frame, bytes):
        return  # not a frame pysip2 writes (a "|" in a value, say): nothing to decode
    theirs = _pysip2_decode(frame, encoding)
    ours = decode_checkin_response(frame, encoding=encoding)
    if theirs is not None and isinstance(theirs[0], CheckinResponse):
        # every well-formed answer takes the fast path, with pysip2's fields
        assert ours == theirs
    else:
        assert ours is None


@settings(max_examples=300, deadline=None)
@given(checkin_responses(), st.integers(min_value=0, max_value=9), st.sampled_from(ENCODINGS),
       st.lists(st.tuples(st.integers(min_value=0, max_value=400),
                          st.sampled_from(b"|\r\x00AZY0Ff1\xe4\x81")), min_size=1, max_size=3))
def test_10_mangled_frames_are_decoded_as_pysip2_does_or_left_to_it(
        resp: CheckinResponse, seq: int, encoding: str, edits: list[tuple[int, int]]) -> None:
    frame = pysip2_frame(resp, seq, True, encoding)
    if not isinstance(frame, bytes):
        return
    mangled = bytearray(frame)
    for at, byte in edits:
        mangled[at % len(mangled)] = byte
    theirs = _pysip2_decode(bytes(mangled), encoding)
    ours = decode_checkin_response(bytes(mangled), encoding=encoding)
    if ours is not None:
        assert ours == theirs  # never a different reading, never one pysip2 refuses


def test_a_wrong_checksum_is_left_to_pysip2_which_refuses_it() -> None:
    frame = encode_message(CheckinResponse(
        ok="1", resensitize="Y", magnetic_media="N", alert="N",
        transaction_date="20261201    100000", institution_id="CITYLIB",
        item_identifier="30000200000051", permanent_location="MAIN", title_identifier="红楼梦"),
        sequence_number=3, checksum=True, encoding="utf-8")
    assert decode_checkin_response(frame, encoding="utf-8") is not None
    broken = frame[:-5] + (b"0000" if frame[-5:-1] != b"0000" else b"0001") + b"\r"
    assert decode_checkin_response(broken, encoding="utf-8") is None
    with pytest.raises(SIP2ChecksumError):
        decode_message(broken, encoding="utf-8")


@given(st.binary(max_size=2000))
def test_byte_sum_and_checksum_agree_with_pysip2(data: bytes) -> None:
    assert byte_sum(data) == sum(data)
    assert checksum(data).decode() == calculate_checksum(data)


def test_known_checksums_from_the_lab_notes() -> None:
    assert checksum(b"990 402.00AY1AZ") == b"FCB4"
    assert checksum(b"9300CNuser_id|COpassw0rd|AY1AZ") == b"F594"
    assert zlib.adler32(b"") == 1  # the identity byte_sum relies on
