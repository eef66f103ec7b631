"""Property tests: card tokens and visitor passes round-trip, and every single-byte change is caught."""

from __future__ import annotations

import datetime as dt

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from library_core import tokens
from library_core.errors import TokenError
from library_core.tokens import CardToken, VisitorPass

KEY = b"test-library-key-0123456789"
REASONS = {"blank", "foreign", "version", "other_card", "tampered", "malformed"}

card_numbers = st.text(alphabet="0123456789", min_size=14, max_size=14)
uids = st.binary(min_size=4, max_size=10)
keys = st.binary(min_size=16, max_size=64)
card_tokens = st.builds(
    CardToken,
    card_no=card_numbers,
    generation=st.integers(min_value=0, max_value=(1 << 16) - 1),
    expires_on=st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(9999, 12, 31)),
)
visitor_passes = st.builds(
    VisitorPass,
    kiosk_no=st.integers(min_value=0, max_value=(1 << 16) - 1),
    visit_no=st.integers(min_value=0, max_value=(1 << 32) - 1),
    expires_at=st.datetimes(
        min_value=dt.datetime(2020, 1, 1), max_value=dt.datetime(9000, 1, 1)
    ).map(lambda d: d.replace(second=0, microsecond=0, tzinfo=dt.UTC)),
)


@settings(max_examples=500, deadline=None)
@given(card_tokens, uids, keys)
def test_card_token_round_trip(token: CardToken, uid: bytes, key: bytes) -> None:
    raw = tokens.encode_card_token(token, uid, key)
    assert len(raw) == tokens.TOKEN_SIZE
    assert tokens.decode_card_token(raw, uid, key) == token


@settings(max_examples=1000, deadline=None)
@given(card_tokens, uids, st.integers(min_value=0, max_value=tokens.TOKEN_SIZE - 1),
       st.integers(min_value=1, max_value=255))
def test_any_single_byte_change_in_a_card_token_is_refused(
    token: CardToken, uid: bytes, pos: int, xor: int
) -> None:
    raw = bytearray(tokens.encode_card_token(token, uid, KEY))
    raw[pos] ^= xor
    try:
        tokens.decode_card_token(bytes(raw), uid, KEY)
    except TokenError as err:
        expected = {0: "foreign", 1: "foreign", 2: "version", 14: "other_card", 15: "other_card"}
        assert err.reason == expected.get(pos, "tampered")
    else:
        raise AssertionError(f"a token changed at byte {pos} was accepted")


@settings(max_examples=300, deadline=None)
@given(card_tokens, uids, uids)
def test_a_token_copied_to_another_card_is_refused(token: CardToken, uid: bytes, other: bytes) -> None:
    assume(other != uid)
    raw = tokens.encode_card_token(token, uid, KEY)
    try:
        tokens.decode_card_token(raw, other, KEY)
    except TokenError as err:
        # Two UIDs may share the 2-byte tag; the MAC over the full UID still refuses the copy.
        assert err.reason in {"other_card", "tampered"}
    else:
        raise AssertionError("a copied token was accepted")


@settings(max_examples=1000, deadline=None)
@given(st.binary(max_size=80), uids)
def test_random_bytes_are_refused_with_a_known_reason(data: bytes, uid: bytes) -> None:
    try:
        tokens.decode_card_token(data, uid, KEY)
    except TokenError as err:
        assert err.reason in REASONS
    else:
        raise AssertionError("random bytes were accepted as a token")


@settings(max_examples=500, deadline=None)
@given(visitor_passes, keys)
def test_visitor_pass_round_trip(vp: VisitorPass, key: bytes) -> None:
    text = tokens.encode_visitor_pass(vp, key)
    assert len(text) == tokens.PASS_LENGTH
    assert tokens.decode_visitor_pass(text, key) == vp
    assert tokens.decode_visitor_pass(text, key, now=vp.expires_at) == vp


@settings(max_examples=1000, deadline=None)
@given(visitor_passes, st.data())
def test_any_single_character_change_in_a_pass_is_refused(vp: VisitorPass, data: st.DataObject) -> None:
    text = tokens.encode_visitor_pass(vp, KEY)
    pos = data.draw(st.integers(min_value=0, max_value=len(text) - 1))
    replacement = data.draw(st.characters(codec="utf-8").filter(lambda c: c != text[pos]))
    changed = text[:pos] + replacement + text[pos + 1:]
    try:
        tokens.decode_visitor_pass(changed, KEY)
    except TokenError as err:
        assert err.reason in {"malformed", "tampered"}
    else:
        raise AssertionError(f"a pass changed at {pos} was accepted")


@settings(max_examples=500, deadline=None)
@given(visitor_passes, st.integers(min_value=1, max_value=10**6))
def test_a_pass_is_refused_after_it_expires(vp: VisitorPass, late_s: int) -> None:
    text = tokens.encode_visitor_pass(vp, KEY)
    try:
        tokens.decode_visitor_pass(text, KEY, now=vp.expires_at + dt.timedelta(seconds=late_s))
    except TokenError as err:
        assert err.reason == "expired"
    else:
        raise AssertionError("an expired pass was accepted")
