"""ScanParser: every kind of scan, every refusal, and a fuzz run that nothing escapes."""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from library_core import codes, i18n
from library_core.clock import CHINA_TZ, FixedClock
from library_core.errors import ValidationError
from library_core.scan import (
    MAX_SCAN_LENGTH,
    Scan,
    ScanKind,
    ScanParser,
    ScanRefused,
    ScanRejected,
    normalize_scan,
)
from library_core.tokens import VisitorPass, encode_visitor_pass

KEY = b"test-library-key-0123456789"
NOW = dt.datetime(2026, 11, 24, 10, 30, tzinfo=CHINA_TZ)
CLOSING = dt.datetime(2026, 11, 24, 21, 0, tzinfo=CHINA_TZ)

CARD = codes.make_card_no(1234)  # 20000000012340
ITEM = codes.make_item_barcode(98765)
WECHAT = "134567890123456789"  # 18 digits, starts 13
ALIPAY = "28" + "1234567890123456"  # 18 digits, starts 28

REFUSAL_IDS = {
    "scan.empty",
    "scan.too_long",
    "scan.control_chars",
    "scan.pass_tampered",
    "scan.pass_expired",
    "scan.pass_malformed",
    "scan.check_digit",
    "scan.isbn",
    "scan.unknown",
}


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def parser(clock: FixedClock) -> ScanParser:
    return ScanParser(KEY, clock)


def _pass(expires_at: dt.datetime = CLOSING, key: bytes = KEY) -> str:
    return encode_visitor_pass(VisitorPass(kiosk_no=1, visit_no=42, expires_at=expires_at), key)


def _bad_check_digit(number: str) -> str:
    return number[:-1] + str((int(number[-1]) + 1) % 10)


def _refused(result: object) -> str:
    assert isinstance(result, ScanRefused), result
    return result.message_id


# --- shapes we accept ---------------------------------------------------------------------


def test_known_numbers_have_the_documented_shape() -> None:
    assert CARD == "20000000012340"
    assert codes.luhn_ok(CARD) and codes.luhn_ok(ITEM)
    assert codes.payment_provider(WECHAT) is codes.PaymentProvider.WECHAT
    assert codes.payment_provider(ALIPAY) is codes.PaymentProvider.ALIPAY


def test_item_barcode(parser: ScanParser) -> None:
    assert parser.parse(ITEM) == Scan(ScanKind.ITEM, ITEM)


def test_reader_card_number(parser: ScanParser) -> None:
    assert parser.parse(CARD) == Scan(ScanKind.READER_CARD, CARD)


def test_staff_card(parser: ScanParser) -> None:
    assert parser.parse("S10234") == Scan(ScanKind.STAFF_CARD, "S10234")
    assert parser.parse("S1023") == Scan(ScanKind.STAFF_CARD, "S1023")


@pytest.mark.parametrize(
    ("code", "provider"),
    [
        ("100000000000000000", codes.PaymentProvider.WECHAT),
        (WECHAT, codes.PaymentProvider.WECHAT),
        ("159999999999999999", codes.PaymentProvider.WECHAT),
        ("2500000000000000", codes.PaymentProvider.ALIPAY),  # 16 digits, the shortest
        (ALIPAY, codes.PaymentProvider.ALIPAY),
        ("300000000000000000000000", codes.PaymentProvider.ALIPAY),  # 24 digits, the longest
    ],
)
def test_payment_codes(parser: ScanParser, code: str, provider: codes.PaymentProvider) -> None:
    assert parser.parse(code) == Scan(ScanKind.PAYMENT_CODE, code, provider=provider)


def test_visitor_pass(parser: ScanParser) -> None:
    text = _pass()
    result = parser.parse(text)
    assert isinstance(result, Scan)
    assert result.kind is ScanKind.VISITOR_PASS
    assert result.value == text
    assert result.visitor_pass == VisitorPass(kiosk_no=1, visit_no=42, expires_at=CLOSING)


def test_visitor_pass_valid_until_the_minute_it_expires(parser: ScanParser, clock: FixedClock) -> None:
    text = _pass()
    clock.set(CLOSING)
    assert isinstance(parser.parse(text), Scan)
    clock.advance(seconds=1)
    assert _refused(parser.parse(text)) == "scan.pass_expired"


# --- normalisation --------------------------------------------------------------------------


@pytest.mark.parametrize("wrap", ["{}\r", "{}\n", "{}\r\n", "  {} \t", "\r\n{}\r\n"])
def test_surrounding_whitespace_and_line_ends_are_stripped(parser: ScanParser, wrap: str) -> None:
    assert parser.parse(wrap.format(ITEM)) == Scan(ScanKind.ITEM, ITEM)


@pytest.mark.parametrize("start,stop", [("A", "B"), ("C", "D"), ("a", "b"), ("D", "A")])
def test_codabar_start_stop_wrapper_is_removed(parser: ScanParser, start: str, stop: str) -> None:
    assert parser.parse(f"{start}{ITEM}{stop}") == Scan(ScanKind.ITEM, ITEM)
    assert parser.parse(f"{start}{CARD}{stop}\r") == Scan(ScanKind.READER_CARD, CARD)


def test_codabar_wrapper_only_around_codabar_data() -> None:
    # A visitor pass ending in A-D, or an S number, is not a Codabar wrapper.
    assert normalize_scan("A1234B") == "1234"
    assert normalize_scan("AXYZB") == "AXYZB"
    assert normalize_scan("AB") == "AB"


def test_caps_lock_lower_case_is_read(parser: ScanParser) -> None:
    """A wedge scanner with Caps Lock on sends lower case; every valid shape is upper case."""
    assert parser.parse("s10234") == Scan(ScanKind.STAFF_CARD, "S10234")
    text = _pass()
    result = parser.parse(text.lower())
    assert isinstance(result, Scan) and result.kind is ScanKind.VISITOR_PASS


# --- refusals -------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", " ", "\r\n", "\t \r", "\u3000"])
def test_empty(parser: ScanParser, text: str) -> None:
    assert _refused(parser.parse(text)) == "scan.empty"


def test_too_long(parser: ScanParser) -> None:
    assert isinstance(parser.parse("S" + "1" * 5), Scan)
    exactly = "9" * MAX_SCAN_LENGTH
    assert _refused(parser.parse(exactly)) == "scan.unknown"  # at the limit: judged by shape
    assert _refused(parser.parse(exactly + "9")) == "scan.too_long"
    refused = parser.parse("X" * 100_000)
    assert _refused(refused) == "scan.too_long"
    assert isinstance(refused, ScanRefused) and len(refused.detail) < 100


@pytest.mark.parametrize(
    "text",
    [ITEM[:5] + "\x00" + ITEM[5:], ITEM + "\x1b", "\x02" + ITEM + "\x03", "S12\t34",
     CARD[:3] + "\u200b" + CARD[3:], "S1234\x7f"],
)
def test_control_characters(parser: ScanParser, text: str) -> None:
    assert _refused(parser.parse(text)) == "scan.control_chars"


def test_visitor_pass_with_a_bad_signature(parser: ScanParser) -> None:
    forged = _pass(key=b"someone-elses-key-0123456789")
    assert _refused(parser.parse(forged)) == "scan.pass_tampered"
    genuine = _pass()
    altered = genuine[:-1] + ("A" if genuine[-1] != "A" else "B")
    assert _refused(parser.parse(altered)) == "scan.pass_tampered"


def test_expired_visitor_pass(parser: ScanParser) -> None:
    yesterday = CLOSING - dt.timedelta(days=1)
    assert _refused(parser.parse(_pass(expires_at=yesterday))) == "scan.pass_expired"


@pytest.mark.parametrize("cut", [lambda t: t[:-1], lambda t: t + "A", lambda t: t[:-2] + "1!"])
def test_damaged_visitor_pass(parser: ScanParser, cut: object) -> None:
    assert callable(cut)
    assert _refused(parser.parse(cut(_pass()))) == "scan.pass_malformed"
    assert _refused(parser.parse("VP1")) == "scan.pass_malformed"


@pytest.mark.parametrize("number", [CARD, ITEM])
def test_bad_check_digit(parser: ScanParser, number: str) -> None:
    assert _refused(parser.parse(_bad_check_digit(number))) == "scan.check_digit"


def test_isbn_instead_of_item_barcode(parser: ScanParser) -> None:
    assert _refused(parser.parse("9787020002207")) == "scan.isbn"  # a real EAN-13 ISBN
    assert _refused(parser.parse("9787020002208")) == "scan.unknown"  # check digit off


@pytest.mark.parametrize(
    "text",
    [
        "hello",
        "12345",
        "4" + CARD[1:],  # 14 digits, neither 2 nor 3 first
        CARD[:-1],  # 13 digits
        CARD + "0",  # 15 digits
        "160000000000000000",  # 18 digits starting 16: no wallet
        "250000000000000",  # 15 digits starting 25: too short for Alipay
        "S123",  # staff number too short
        "S1234567",  # and too long
        "２００００００００１２３４０",  # full-width digits
        "٢٠٠٠٠٠٠٠٠١٢٣٤٠",  # Arabic-Indic digits
        "S١٢٣٤",
        "读者证",
        "https://example.com/?card=" + CARD,
        "²" * 18,
    ],
)
def test_unknown_shapes(parser: ScanParser, text: str) -> None:
    assert _refused(parser.parse(text)) == "scan.unknown"


def test_not_text_is_refused_not_raised(parser: ScanParser) -> None:
    assert _refused(parser.parse(None)) == "scan.unknown"  # type: ignore[arg-type]
    assert _refused(parser.parse(b"20000000012340")) == "scan.unknown"  # type: ignore[arg-type]


def test_require_raises_a_validation_error_with_the_message_id(parser: ScanParser) -> None:
    assert parser.require(ITEM).kind is ScanKind.ITEM
    with pytest.raises(ValidationError) as info:
        parser.require(_bad_check_digit(CARD))
    assert isinstance(info.value, ScanRejected)
    assert info.value.message_id == "scan.check_digit"


def test_results_are_frozen(parser: ScanParser) -> None:
    result = parser.parse(ITEM)
    with pytest.raises(AttributeError):
        result.value = CARD  # type: ignore[misc]


# --- every message id is translated in both languages ----------------------------------------


@pytest.mark.parametrize("language", ["en", "zh_CN"])
@pytest.mark.parametrize("message_id", sorted(REFUSAL_IDS))
def test_every_refusal_has_a_translation(message_id: str, language: str) -> None:
    assert i18n.has_message(message_id, language)
    assert i18n.translate(message_id, language) != message_id


def test_parser_module_stays_pure() -> None:
    source = Path(__file__).resolve().parents[2] / "library_core" / "scan.py"
    tree = ast.parse(source.read_text(encoding="utf-8"))
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & {"kivy", "requests", "serial", "socket", "os", "io", "pathlib", "devices"}
    assert "open" not in {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}


# --- fuzz -----------------------------------------------------------------------------------

_ALPHABET = st.sampled_from(
    list("0123456789SVPABCDsvpabcd \r\n\t\x00\x1b\x7f\u200b²١２读-$:/.+=") + ["VP1", CARD, ITEM]
)
_scan_like = st.lists(_ALPHABET, max_size=40).map("".join)


def _check(result: object) -> None:
    if isinstance(result, ScanRefused):
        assert result.message_id in REFUSAL_IDS
        assert isinstance(result.detail, str) and len(result.detail) < 200
    else:
        assert isinstance(result, Scan)
        assert result.kind in ScanKind
        assert 0 < len(result.value) <= MAX_SCAN_LENGTH
        assert result.value == result.value.strip()
        assert (result.provider is not None) == (result.kind is ScanKind.PAYMENT_CODE)
        assert (result.visitor_pass is not None) == (result.kind is ScanKind.VISITOR_PASS)


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=120))
def test_fuzz_any_unicode_text(text: str) -> None:
    _check(ScanParser(KEY, FixedClock(NOW)).parse(text))


@settings(max_examples=3000, deadline=None)
@given(_scan_like)
def test_fuzz_scan_like_text(text: str) -> None:
    _check(ScanParser(KEY, FixedClock(NOW)).parse(text))


@settings(max_examples=1000, deadline=None)
@given(st.binary(max_size=80))
def test_fuzz_bytes_decoded_as_a_driver_would(data: bytes) -> None:
    _check(ScanParser(KEY, FixedClock(NOW)).parse(data.decode("utf-8", errors="replace")))
    _check(ScanParser(KEY, FixedClock(NOW)).parse(data.decode("latin-1")))


@settings(max_examples=500, deadline=None)
@given(st.integers(min_value=0, max_value=10**12 - 1))
def test_every_generated_number_is_classified(serial: int) -> None:
    parser = ScanParser(KEY, FixedClock(NOW))
    assert parser.parse(codes.make_card_no(serial)).kind is ScanKind.READER_CARD  # type: ignore[union-attr]
    assert parser.parse(codes.make_item_barcode(serial)).kind is ScanKind.ITEM  # type: ignore[union-attr]
    bad = _bad_check_digit(codes.make_item_barcode(serial))
    assert _refused(parser.parse(bad)) == "scan.check_digit"
