"""The providers' bill parsers and the pure reconciliation: documented layouts read, a hostile
or foreign file refused with a named reason, a trade refunded in full is no mismatch."""

from __future__ import annotations

import pytest

from library_core.errors import ValidationError
from record_server.reconcile import BookedPayment, parse_bill, reconcile
from tests.support.bills import BillTrade, alipay_bill, wechat_bill

TRADES = [BillTrade("4200000000000001", "LK0000126112400000001AAAA", 3000),
          BillTrade("4200000000000002", "LK0000126112400000002BBBB", 500, refunded=500),
          BillTrade("4200000000000003", "LK0000126112400000003CCCC", 1250, refunded=250)]


@pytest.mark.parametrize("kind, write", [("wechat", wechat_bill), ("alipay", alipay_bill)])
def test_both_layouts_parse_to_payments_and_refunds_in_fen(kind: str, write: object) -> None:
    rows = parse_bill(kind, write(TRADES))  # type: ignore[operator]
    assert [(r.transaction_id, r.kind, r.amount) for r in rows] == [
        ("4200000000000001", "payment", 3000), ("4200000000000002", "payment", 500),
        ("4200000000000002", "refund", 500), ("4200000000000003", "payment", 1250),
        ("4200000000000003", "refund", 250)]
    assert all(r.out_trade_no.startswith("LK") and r.at.startswith("2026-11-24") for r in rows)
    books = [BookedPayment("p1", "K01-20261124-0001", kind, "4200000000000001", "", 3000),
             BookedPayment("p3", "K01-20261124-0003", kind, "", "LK0000126112400000003CCCC", 1000)]
    result = reconcile(kind, rows, books)
    assert result.mismatches == [] and result.matched == 2  # the second nets to zero
    assert result.provider_total == result.books_total == 4000


@pytest.mark.parametrize("kind, data, reason", [
    ("wechat", "交易时间,公众账号ID\n`2026-11-24,`wx\n".encode(), "bill.format"),
    ("wechat", b"not,a,bill\n", "bill.format"),
    ("alipay", wechat_bill(TRADES), "bill.format"),
    ("wechat", wechat_bill(TRADES).replace(b"`30.00", b"`30.00.1"), "bill.bad_amount"),
    ("alipay", alipay_bill(TRADES).replace(b"30.00", b"1e9", 1), "bill.bad_amount"),
    ("paypal", b"", "bill.provider"),
])
def test_a_foreign_or_broken_bill_is_refused_with_a_named_reason(kind: str, data: bytes,
                                                                  reason: str) -> None:
    with pytest.raises(ValidationError) as refused:
        parse_bill(kind, data)
    assert refused.value.message_id == reason


@pytest.mark.parametrize("kind, data, where, extra", [
    # an unquoted comma inside the amount splits it: once read silently as ¥30.00 / ¥7.00
    ("wechat", wechat_bill(TRADES).replace(b"`30.00", b"`30,0x", 1), "line 2", 1),
    ("wechat", wechat_bill(TRADES).replace(b"`30.00", b"`7,0x", 1), "line 2", 1),
    ("wechat", wechat_bill(TRADES).replace(b",`0.60%", b"", 1), "line 2", -1),  # one short
    ("alipay", alipay_bill(TRADES).replace(b",30.00,", b",30,00,", 1), "row 2", 1),
])
def test_a_trade_line_with_the_wrong_number_of_fields_is_refused_by_its_line(
        kind: str, data: bytes, where: str, extra: int) -> None:
    with pytest.raises(ValidationError) as refused:
        parse_bill(kind, data)
    err = refused.value
    assert err.message_id == "bill.field_count"
    assert err.params["where"] == where and err.detail.startswith(f"{where}: ")
    assert err.params["found"] == err.params["expected"] + extra
