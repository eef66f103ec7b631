"""The drawer count typed at close of day: yuan with at most two decimals into integer fen;
anything else refused by name, and the staff service refuses a bad count before writing."""

from __future__ import annotations

import pytest

from library_core.cash_count import CASH_COUNT_MAX, check_cash_count, parse_cash_count
from library_core.errors import ValidationError
from tests.support.services import ServicesEnv, make_env


@pytest.mark.parametrize(("text", "fen"), [
    ("0", 0), ("12", 1200), ("12.3", 1230), ("12.34", 1234), ("5.", 500), (".5", 50),
    (" 7.01 ", 701), ("999999.99", CASH_COUNT_MAX)])
def test_yuan_with_up_to_two_decimals_becomes_fen(text: str, fen: int) -> None:
    assert parse_cash_count(text) == fen


@pytest.mark.parametrize(("text", "message_id"), [
    ("", "cash_count.empty"), ("   ", "cash_count.empty"), ("-1", "cash_count.negative"),
    ("−1", "cash_count.negative"), ("abc", "cash_count.not_a_number"),
    ("12a", "cash_count.not_a_number"), ("1e3", "cash_count.not_a_number"),
    ("+5", "cash_count.not_a_number"), ("1,000", "cash_count.not_a_number"),
    (".", "cash_count.not_a_number"), ("1..2", "cash_count.not_a_number"),
    ("1.2.3", "cash_count.not_a_number"), ("١٢", "cash_count.not_a_number"),
    ("1.234", "cash_count.too_many_decimals"), ("1000000", "cash_count.too_large"),
    ("1000000.00", "cash_count.too_large"), ("9" * 4000, "cash_count.too_large")])
def test_anything_else_is_refused_by_name(text: str, message_id: str) -> None:
    with pytest.raises(ValidationError) as err:
        parse_cash_count(text)
    assert err.value.message_id == message_id


@pytest.mark.parametrize("fen", [-1, CASH_COUNT_MAX + 1, True, 1.5])
def test_a_bad_count_in_fen_is_refused(fen: object) -> None:
    with pytest.raises(ValidationError):
        check_cash_count(fen)  # type: ignore[arg-type]


def test_close_day_refuses_a_negative_count_and_closes_nothing(tmp_path) -> None:
    env: ServicesEnv = make_env(tmp_path / "kiosk.db")
    sup = env.supervisor()
    with pytest.raises(ValidationError) as err:
        env.services.staff.close_day(sup, cash_counted=-100)
    assert err.value.message_id == "cash_count.negative"
    assert env.store.read_one("SELECT COUNT(*) FROM days_closed")[0] == 0
    assert env.store.read_one("SELECT COUNT(*) FROM outbox WHERE kind = 'day.closed'")[0] == 0
    report, receipt = env.services.staff.close_day(sup, cash_counted=0)
    keys = [line.key for line in receipt.lines]
    assert keys[-3:] == ["receipt.field.cash_expected", "receipt.field.cash_counted",
                         "receipt.field.cash_difference"]
    assert receipt.lines[-1].amount == -report.cash_expected
