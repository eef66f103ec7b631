"""Domain rules with real cases: money, identity, fees, codes, card tokens and visitor passes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from library_core import codes, fees, identity, money, tokens
from library_core.errors import ConfigError, TokenError, ValidationError
from library_core.fees import FeeKind, ReaderCategory
from library_core.tokens import CardToken, VisitorPass

KEY = b"test-library-key-0123456789"
UID = bytes.fromhex("04A1B2C3")
OTHER_UID = bytes.fromhex("04A1B2C4")
CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"


def _id(first17: str) -> str:
    return first17 + identity.id_check_char(first17)


# --- money ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fen", "text"),
    [(1250, "¥12.50"), (0, "¥0.00"), (5, "¥0.05"), (100, "¥1.00"), (-300, "-¥3.00"),
     (-5, "-¥0.05"), (123456789, "¥1,234,567.89")],
)
def test_format_fen(fen: int, text: str) -> None:
    assert money.format_fen(fen) == text


def test_format_fen_refuses_floats_and_bools() -> None:
    with pytest.raises(TypeError):
        money.format_fen(12.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        money.format_fen(True)


# --- identity -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["11010519491231002X", "11010519491231002x", " 110105 1949 1231 002X ",
             "110105199003071239", _id("44052420000229001")],  # 29 Feb 2000: a leap year
)
def test_valid_resident_ids(text: str) -> None:
    value = identity.validate_resident_id(text, today=dt.date(2026, 1, 1))
    assert value == text.replace(" ", "").upper()


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("11010519491231002", "id.length"),
        ("11010519491231002XX", "id.length"),
        ("", "id.length"),
        ("1101051949123100XX", "id.format"),
        ("X10105194912310021", "id.format"),
        ("١١٠١٠٥١٩٤٩١٢٣١٠٠٢X", "id.format"),
        ("110105194912310021", "id.checksum"),  # one digit off the right X
        ("110105199003071234", "id.checksum"),
    ],
)
def test_invalid_resident_ids(text: str, reason: str) -> None:
    with pytest.raises(ValidationError) as info:
        identity.validate_resident_id(text, today=dt.date(2026, 1, 1))
    assert info.value.message_id == reason


@pytest.mark.parametrize(
    "first17",
    [
        "11010519000229001",  # 1900 was not a leap year
        "11010520230230001",  # 30 February
        "11010519901301001",  # month 13
        "11010519900000001",  # day 0
        "11010518991231001",  # before 1900
        "11010520260102001",  # born after "today"
    ],
)
def test_resident_id_with_a_bad_birth_date(first17: str) -> None:
    with pytest.raises(ValidationError) as info:
        identity.validate_resident_id(_id(first17), today=dt.date(2026, 1, 1))
    assert info.value.message_id == "id.birth_date"


def test_birth_date() -> None:
    assert identity.birth_date_from_id("11010519491231002X") == dt.date(1949, 12, 31)


def test_masks() -> None:
    assert identity.mask_resident_id("110105199003071234") == "110***********1234"
    assert identity.mask_resident_id("11010519491231002X") == "110***********002X"
    assert identity.mask_mobile("13812345678") == "138****5678"
    assert identity.mask_mobile("123") == "***"


@pytest.mark.parametrize(
    ("text", "value"),
    [("13812345678", "13812345678"), ("+86 138-1234-5678", "13812345678"),
     (" 199 0000 0000 ", "19900000000")],
)
def test_valid_mobiles(text: str, value: str) -> None:
    assert identity.validate_mobile(text) == value


@pytest.mark.parametrize(
    "text", ["12812345678", "1381234567", "138123456789", "1381234567a", "", "١٣٨١٢٣٤٥٦٧٨"]
)
def test_invalid_mobiles(text: str) -> None:
    with pytest.raises(ValidationError) as info:
        identity.validate_mobile(text)
    assert info.value.message_id == "phone.invalid"


# --- fees -----------------------------------------------------------------------------------


@pytest.fixture
def schedule() -> fees.FeeSchedule:
    return fees.load_fee_schedule(CONFIG_DIR / "fees.toml")


def test_shipped_fee_schedule(schedule: fees.FeeSchedule) -> None:
    assert schedule.for_category("adult") == fees.CategoryFees(deposit=10000, card_fee=1000)
    assert schedule.for_category(ReaderCategory.SENIOR).deposit == 0
    assert schedule.renewal_fee_for(12) == 1000
    assert schedule.renewal_fee_for(24) == 2000
    assert schedule.renewal_fee_for(36) == 3000
    assert schedule.to_dict()["categories"]["student"] == {"deposit": 5000, "card_fee": 500}
    assert {k.value for k in FeeKind} >= {"deposit", "overdue", "lost_item"}


def test_renewal_period_not_offered(schedule: fees.FeeSchedule) -> None:
    with pytest.raises(ValidationError) as info:
        schedule.renewal_fee_for(6)
    assert info.value.message_id == "renewal.period"


def test_short_renewal_costs_at_least_one_year() -> None:
    data = _fee_data(renewal_periods_months=[6, 18])
    schedule = fees.fee_schedule_from_dict(data)
    assert schedule.renewal_fee_for(6) == 1000
    assert schedule.renewal_fee_for(18) == 2000


@pytest.mark.parametrize(
    ("returned", "fine"),
    [
        (dt.date(2026, 3, 1), 0),  # on the due date
        (dt.date(2026, 2, 20), 0),  # early
        (dt.date(2026, 3, 2), 10),
        (dt.date(2026, 3, 6), 50),
        (dt.date(2026, 9, 16), 1990),  # 199 days, just under the cap
    ],
)
def test_overdue_fine(schedule: fees.FeeSchedule, returned: dt.date, fine: int) -> None:
    assert fees.overdue_fine(dt.date(2026, 3, 1), returned, schedule) == fine


def test_overdue_fine_is_capped_per_item(schedule: fees.FeeSchedule) -> None:
    due = dt.date(2026, 3, 1)
    assert fees.overdue_fine(due, due + dt.timedelta(days=200), schedule) == 2000
    assert fees.overdue_fine(due, due + dt.timedelta(days=201), schedule) == 2000
    assert fees.overdue_fine(due, due + dt.timedelta(days=5000), schedule) == 2000
    assert fees.days_overdue(due, due + dt.timedelta(days=5000)) == 5000


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (dt.date(2024, 1, 31), 1, dt.date(2024, 2, 29)),  # leap year
        (dt.date(2023, 1, 31), 1, dt.date(2023, 2, 28)),
        (dt.date(2024, 2, 29), 12, dt.date(2025, 2, 28)),
        (dt.date(2024, 2, 29), 48, dt.date(2028, 2, 29)),
        (dt.date(2024, 3, 31), 1, dt.date(2024, 4, 30)),
        (dt.date(2024, 3, 31), -1, dt.date(2024, 2, 29)),
        (dt.date(2024, 12, 15), 1, dt.date(2025, 1, 15)),
        (dt.date(2024, 1, 15), -13, dt.date(2022, 12, 15)),
        (dt.date(2024, 5, 10), 0, dt.date(2024, 5, 10)),
        (dt.date(2026, 11, 24), 36, dt.date(2029, 11, 24)),
    ],
)
def test_add_months(day: dt.date, months: int, expected: dt.date) -> None:
    assert fees.add_months(day, months) == expected


def _fee_data(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "renewal_fee": 1000,
        "renewal_periods_months": [12, 24],
        "replacement_fee": 1500,
        "card_validity_months": 36,
        "overdue_fine_per_day": 10,
        "overdue_fine_cap_per_item": 2000,
        "renewal_refused_above": 5000,
        "loan_days": 30,
        "categories": {c.value: {"deposit": 100, "card_fee": 10} for c in ReaderCategory},
    }
    data.update(changes)
    return data


def _without(data: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k != key}


def _category(**table: Any) -> dict[str, Any]:
    cats = _fee_data()["categories"]
    cats["adult"] = table
    return _fee_data(categories=cats)


@pytest.mark.parametrize(
    ("data", "key"),
    [
        (_fee_data(colour="red"), "fees.colour"),
        (_without(_fee_data(), "categories"), "fees.categories"),
        (_fee_data(categories=[1, 2]), "fees.categories"),
        (_fee_data(categories={**_fee_data()["categories"], "vip": {}}), "fees.categories.vip"),
        (_fee_data(categories={**_fee_data()["categories"], "adult": 5}), "fees.categories.adult"),
        (_fee_data(categories={k: v for k, v in _fee_data()["categories"].items()
                               if k != "senior"}), "fees.categories.senior"),
        (_category(card_fee=10), "fees.categories.adult.deposit"),
        (_category(deposit=100, card_fee=10, discount=5), "fees.categories.adult.discount"),
        (_category(deposit=-1, card_fee=10), "fees.categories.adult.deposit"),
        (_category(deposit=100, card_fee=10.5), "fees.categories.adult.card_fee"),
        (_without(_fee_data(), "replacement_fee"), "fees.replacement_fee"),
        (_fee_data(replacement_fee=15.0), "fees.replacement_fee"),  # yuan as a float: refused
        (_fee_data(renewal_fee="10"), "fees.renewal_fee"),
        (_fee_data(overdue_fine_per_day=True), "fees.overdue_fine_per_day"),
        (_fee_data(overdue_fine_cap_per_item=-5), "fees.overdue_fine_cap_per_item"),
        (_without(_fee_data(), "renewal_refused_above"), "fees.renewal_refused_above"),
        (_fee_data(renewal_periods_months=[]), "fees.renewal_periods_months"),
        (_fee_data(renewal_periods_months=[0]), "fees.renewal_periods_months"),
        (_fee_data(renewal_periods_months=[61]), "fees.renewal_periods_months"),
        (_fee_data(renewal_periods_months=12), "fees.renewal_periods_months"),
        (_fee_data(renewal_periods_months=[True]), "fees.renewal_periods_months"),
        (_fee_data(card_validity_months=0), "fees.card_validity_months"),
        (_fee_data(card_validity_months=121), "fees.card_validity_months"),
        (_fee_data(card_validity_months=True), "fees.card_validity_months"),
        (_fee_data(loan_days=0), "fees.loan_days"),
        (_fee_data(loan_days=366), "fees.loan_days"),
        (_fee_data(loan_days=True), "fees.loan_days"),
    ],
)
def test_fee_schedule_config_errors_name_the_key(data: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        fees.fee_schedule_from_dict(data)
    assert info.value.key == key
    assert info.value.message_id == "error.config"
    assert key in str(info.value)


def test_fee_file_missing_or_broken(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        fees.load_fee_schedule(tmp_path / "nope.toml")
    assert info.value.key == "fees"
    broken = tmp_path / "fees.toml"
    broken.write_text("renewal_fee = \n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        fees.load_fee_schedule(broken)
    assert info.value.key == "fees"


# --- codes ----------------------------------------------------------------------------------


def test_luhn_known_values() -> None:
    assert codes.luhn_digit("7992739871") == "3"  # the textbook example
    assert codes.luhn_ok("79927398713")
    assert not codes.luhn_ok("79927398710")
    assert not codes.luhn_ok("7")
    assert not codes.luhn_ok("7992739871a")
    assert not codes.luhn_ok("²²")


def test_card_numbers_and_item_barcodes() -> None:
    card = codes.make_card_no(1234)
    item = codes.make_item_barcode(98765)
    assert card == "20000000012340"
    assert item == "30000000987655"
    assert codes.is_card_no(card) and not codes.is_item_barcode(card)
    assert codes.is_item_barcode(item) and not codes.is_card_no(item)
    assert not codes.is_card_no("20000000012341")  # check digit
    assert not codes.is_card_no("2000000001234")  # 13 digits
    assert not codes.is_item_barcode("40000000987657")  # wrong leading digit
    for serial in range(0, 10_000, 37):  # every single-digit error is caught
        number = codes.make_card_no(serial)
        for pos in range(1, 14):
            for d in "0123456789":
                if d != number[pos]:
                    assert not codes.is_card_no(number[:pos] + d + number[pos + 1:])


def test_staff_and_kiosk_ids() -> None:
    assert codes.is_staff_no("S1234") and codes.is_staff_no("S123456")
    for bad in ("S123", "S1234567", "s1234", "S12a4", "S1234\n", "S١٢٣٤", "1234"):
        assert not codes.is_staff_no(bad), bad
    assert codes.is_kiosk_id("K01") and codes.is_kiosk_id("K1234")
    for bad in ("K1", "K12345", "k01", "K01\n", "KK01"):
        assert not codes.is_kiosk_id(bad), bad


@pytest.mark.parametrize(
    ("code", "provider"),
    [
        ("100000000000000000", "wechat"),
        ("134567890123456789", "wechat"),
        ("159999999999999999", "wechat"),
        ("090000000000000000", None),  # 18 digits starting 09
        ("160000000000000000", None),  # starting 16
        ("10000000000000000", None),  # 17 digits starting 10
        ("1000000000000000000", None),  # 19 digits starting 10
        ("2500000000000000", "alipay"),  # 16 digits
        ("281234567890123456", "alipay"),
        ("300000000000000000000000", "alipay"),  # 24 digits
        ("250000000000000", None),  # 15 digits
        ("2500000000000000000000000", None),  # 25 digits
        ("310000000000000000", None),
        ("240000000000000000", None),
        ("13456789012345678a", None),
        ("²" * 18, None),
        ("", None),
    ],
)
def test_payment_code_recognition(code: str, provider: str | None) -> None:
    result = codes.payment_provider(code)
    assert (result.value if result else None) == provider


def test_receipt_numbers() -> None:
    day = dt.date(2026, 11, 24)
    assert codes.format_receipt_no("K01", day, 1) == "K01-20261124-0001"
    assert codes.format_receipt_no("K01", day, 9999) == "K01-20261124-9999"
    for seq in (0, 10_000):
        with pytest.raises(ValueError):
            codes.format_receipt_no("K01", day, seq)


# --- card tokens ----------------------------------------------------------------------------

TOKEN = CardToken(card_no="20000000012340", generation=3, expires_on=dt.date(2029, 11, 24))


@pytest.fixture
def raw() -> bytes:
    return tokens.encode_card_token(TOKEN, UID, KEY)


def _reason(data: bytes, uid: bytes = UID, key: bytes = KEY) -> str:
    with pytest.raises(TokenError) as info:
        tokens.decode_card_token(data, uid, key)
    assert info.value.message_id == f"token.{info.value.reason}"
    return info.value.reason


def test_token_round_trip(raw: bytes) -> None:
    assert len(raw) == tokens.TOKEN_SIZE == 48
    assert raw[:3] == b"LK\x01"
    assert tokens.decode_card_token(raw, UID, KEY) == TOKEN
    assert tokens.decode_card_token(raw + b"\x00" * 16, UID, KEY) == TOKEN  # a whole sector


def test_token_refusals(raw: bytes) -> None:
    assert _reason(bytes(48)) == "blank"
    assert _reason(b"\xff" * 48) == "blank"
    assert _reason(raw[:47]) == "malformed"
    assert _reason(b"") == "malformed"
    assert _reason(b"XX" + raw[2:]) == "foreign"
    assert _reason(raw[:2] + b"\x02" + raw[3:]) == "version"
    assert _reason(raw, uid=OTHER_UID) == "other_card"  # copied onto another card
    assert _reason(raw, key=b"another-library-key-000000") == "tampered"
    longer_life = raw[:11] + (0xFFFFFF).to_bytes(3, "big") + raw[14:]
    assert _reason(longer_life) == "tampered"
    other_number = raw[:8] + bytes([raw[8] ^ 1]) + raw[9:]
    assert _reason(other_number) == "tampered"
    assert _reason(raw[:47] + bytes([raw[47] ^ 0x80])) == "tampered"


def test_check_card_token() -> None:
    today = dt.date(2026, 11, 24)
    tokens.check_card_token(TOKEN, current_generation=3, today=today)
    tokens.check_card_token(TOKEN, current_generation=2, today=dt.date(2029, 11, 24))
    with pytest.raises(TokenError) as info:
        tokens.check_card_token(TOKEN, current_generation=4, today=today)
    assert info.value.reason == "stale_generation"
    with pytest.raises(TokenError) as info:
        tokens.check_card_token(TOKEN, current_generation=3, today=dt.date(2029, 11, 25))
    assert info.value.reason == "expired"


@pytest.mark.parametrize(
    "token",
    [
        CardToken("2000000001234X", 1, dt.date(2030, 1, 1)),
        CardToken("200000000123400", 1, dt.date(2030, 1, 1)),
        CardToken("20000000012340", -1, dt.date(2030, 1, 1)),
        CardToken("20000000012340", 1 << 16, dt.date(2030, 1, 1)),
        CardToken("20000000012340", 1, dt.date(1999, 12, 31)),
    ],
)
def test_encode_refuses_out_of_range_tokens(token: CardToken) -> None:
    with pytest.raises(ValueError):
        tokens.encode_card_token(token, UID, KEY)


# --- visitor passes -------------------------------------------------------------------------

CLOSING = dt.datetime(2026, 11, 24, 13, 0, tzinfo=dt.UTC)  # 21:00 in Beijing
PASS = VisitorPass(kiosk_no=1, visit_no=42, expires_at=CLOSING)


def _pass_reason(text: str, now: dt.datetime | None = None, key: bytes = KEY) -> str:
    with pytest.raises(TokenError) as info:
        tokens.decode_visitor_pass(text, key, now=now)
    return info.value.reason


def test_visitor_pass_round_trip() -> None:
    text = tokens.encode_visitor_pass(PASS, KEY)
    assert len(text) == tokens.PASS_LENGTH == 35
    assert text.startswith("VP1") and text.isalnum() and text.isupper()
    assert tokens.decode_visitor_pass(text, KEY) == PASS
    assert tokens.decode_visitor_pass(text, KEY, now=CLOSING) == PASS  # valid up to closing


def test_visitor_pass_refusals() -> None:
    text = tokens.encode_visitor_pass(PASS, KEY)
    assert _pass_reason(text, now=CLOSING + dt.timedelta(minutes=1)) == "expired"
    assert _pass_reason(text, key=b"another-library-key-000000") == "tampered"
    flipped = text[:10] + ("A" if text[10] != "A" else "B") + text[11:]
    assert _pass_reason(flipped) == "tampered"
    assert _pass_reason(text[:-1]) == "malformed"
    assert _pass_reason(text + "A") == "malformed"
    assert _pass_reason("VP2" + text[3:]) == "malformed"
    assert _pass_reason(text[:3] + "0" + text[4:]) == "malformed"  # 0 is not base32
    assert _pass_reason(text.lower()) == "malformed"
    assert _pass_reason(text[:3] + "é" + text[4:]) == "malformed"
    assert _pass_reason("") == "malformed"


def test_visitor_pass_field_ranges() -> None:
    with pytest.raises(ValueError):
        tokens.encode_visitor_pass(VisitorPass(1 << 16, 1, CLOSING), KEY)
    with pytest.raises(ValueError):
        tokens.encode_visitor_pass(
            VisitorPass(1, 1, dt.datetime(2019, 12, 31, tzinfo=dt.UTC)), KEY
        )
