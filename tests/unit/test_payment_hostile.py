"""Hostile input at the payment edges: a provider reference in a pushed payment that is not a
plain token is refused by the contract; a WeChat Pay answer with a DTD, not XML, or of another
root is refused before any field is read."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from kiosk.payments.provider import ProviderUnreachable
from kiosk.payments.wechat import from_xml
from library_core.contract import PaymentRecorded

GOOD = {"payment_id": "p-1", "receipt_no": "K01-20261124-0001", "method": "wechat",
        "amount": 100, "allocations": [{"fee_id": "f-1", "amount": 100}],
        "transaction_id": "4200000000000001", "out_trade_no": "LK0000126112400000001ABCD"}


def test_a_payment_carries_the_provider_refs_and_may_omit_them() -> None:
    assert PaymentRecorded.model_validate(GOOD).transaction_id == "4200000000000001"
    bare = {k: v for k, v in GOOD.items() if k not in ("transaction_id", "out_trade_no")}
    assert PaymentRecorded.model_validate(bare).transaction_id is None


@pytest.mark.parametrize("field, value", [
    ("transaction_id", "42'; DROP TABLE payments;--"), ("transaction_id", "4200\n0001"),
    ("transaction_id", "4" * 65), ("out_trade_no", ""), ("out_trade_no", "LK 1"),
    ("transaction_id", 4200000000000001),
])
def test_a_bad_provider_ref_is_refused(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as refused:
        PaymentRecorded.model_validate({**GOOD, field: value})
    assert refused.value.errors()[0]["loc"] == (field,)


@pytest.mark.parametrize("body", [
    '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><a>&e;</a></xml>',
    "<xml><return_code>SUCCESS",
    "<html><body>502</body></html>",
    "",
])
def test_a_wechat_answer_that_is_not_a_plain_xml_document_is_refused(body: str) -> None:
    with pytest.raises(ProviderUnreachable):
        from_xml(body)
