"""Reconciliation of a payment provider's daily bill against our books (issue 13.3).

``parse_bill(provider, data)`` reads the provider's documented bill file:

- WeChat Pay ``downloadbill`` (bill_type ALL): a CSV whose header starts ``交易时间,公众账号ID,
  商户号,...``; every value is prefixed with a backquote; 交易状态 SUCCESS (a payment of 应结订单金额)
  or REFUND (a refund of 退款金额); the totals block from ``总交易单数`` on is not a trade.
- Alipay 账单 业务明细 (``alipay.data.dataservice.bill.downloadurl.query``, type trade): GBK CSV;
  ``#`` lines are comments; header ``支付宝交易号,商户订单号,业务类型,...,订单金额（元）,...``;
  业务类型 交易 (payment) or 退款 (refund).

``reconcile(bill, books)`` is pure: our rows of each trade, keyed by the provider's transaction
id (else our out-trade-number), against the provider's rows of it: the net of our payments
minus our refunds against the provider's net (a payment the kiosk's recovery booked as
unapplied and then refunded is a payment and a refund row on both sides: each of ours counts
as matched). Mismatches: ``not_in_books`` (money kept at the provider, no row of ours),
``not_at_provider`` (a row of ours the provider does not list), ``amount_differs`` (the nets
differ). A trade taken and refunded in full with no row of ours (a later step failed and the
refund was accepted at once) nets to zero and is no mismatch. Totals are nets.
``books_for`` loads our side from the record server's database; the console's finance page
and ``record-server reconcile`` call ``reconcile_file``.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from library_core.errors import ValidationError
from record_server import models as m

PROVIDERS = ("wechat", "alipay")
_YUAN = re.compile(r"^-?\d{1,12}(\.\d{1,2})?$")


@dataclass(frozen=True, slots=True)
class BillRow:
    provider: str
    transaction_id: str
    out_trade_no: str
    kind: str  # payment | refund
    amount: int  # fen, positive
    at: str


@dataclass(frozen=True, slots=True)
class BookedPayment:
    payment_id: str
    receipt_no: str
    method: str
    transaction_id: str
    out_trade_no: str
    amount: int
    kiosk_id: str = ""
    day: str = ""
    kind: str = "payment"  # payment | refund (of an unapplied payment, by the provider)


@dataclass(frozen=True, slots=True)
class Mismatch:
    kind: str  # not_in_books | not_at_provider | amount_differs
    transaction_id: str
    out_trade_no: str
    provider_amount: int
    books_amount: int
    receipt_no: str = ""


@dataclass(frozen=True)
class Reconciliation:
    provider: str
    matched: int
    provider_total: int
    books_total: int
    mismatches: list[Mismatch] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"provider": self.provider, "matched": self.matched,
                "provider_total": self.provider_total, "books_total": self.books_total,
                "mismatches": [asdict(x) for x in self.mismatches]}


def _fen(text: str, where: str) -> int:
    text = text.strip().lstrip("`").replace(",", "")
    if not _YUAN.match(text):
        raise ValidationError("bill.bad_amount", f"{where}: not an amount: {text!r}")
    sign = -1 if text.startswith("-") else 1
    whole, _, frac = text.lstrip("-").partition(".")
    return sign * (int(whole) * 100 + int(frac.ljust(2, "0") or "0"))


def _decode(data: bytes) -> str:
    for enc in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            continue
    raise ValidationError("bill.encoding", "neither UTF-8 nor GB18030")


def _fields_of(line: str, header: Sequence[str], where: str, *, strip: str = "") -> list[str]:
    """A trade line's fields, exactly one per header column. A line with more (an amount
    like ``7,0x`` unquoted is two fields, once read as 7.00) or fewer is refused.

    Raises ValidationError ``bill.field_count`` naming the line."""
    values = [v.strip().lstrip(strip) for v in next(csv.reader([line]), [])]
    if len(values) != len(header):
        raise ValidationError("bill.field_count",
                              f"{where}: {len(values)} fields, {len(header)} expected",
                              where=where, found=len(values), expected=len(header))
    return values


def parse_wechat_bill(text: str) -> list[BillRow]:
    """Raises ValidationError (``bill.format``, ``bill.field_count``, ``bill.bad_amount``)
    naming the line."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines or not lines[0].startswith("交易时间,"):
        raise ValidationError("bill.format", "not a WeChat Pay bill (no 交易时间 header)")
    header = [h.strip() for h in next(csv.reader([lines[0]]))]
    need = ("交易时间", "微信订单号", "商户订单号", "交易状态", "应结订单金额", "退款金额")
    missing = [h for h in need if h not in header]
    if missing:
        raise ValidationError("bill.format", f"WeChat Pay bill without {missing}")
    col = {h: header.index(h) for h in need}
    rows: list[BillRow] = []
    for n, line in enumerate(lines[1:], start=2):
        if line.startswith("总交易单数"):
            break
        values = _fields_of(line, header, f"line {n}", strip="`")
        state = values[col["交易状态"]]
        if state == "SUCCESS":
            kind, amount = "payment", _fen(values[col["应结订单金额"]], f"line {n}")
        elif state == "REFUND":
            kind, amount = "refund", abs(_fen(values[col["退款金额"]], f"line {n}"))
        else:
            continue  # REVOKED: reversed before settlement, no money moved
        rows.append(BillRow("wechat", values[col["微信订单号"]], values[col["商户订单号"]], kind,
                            amount, values[col["交易时间"]]))
    return rows


def parse_alipay_bill(text: str) -> list[BillRow]:
    """Raises ValidationError (``bill.format``, ``bill.field_count``, ``bill.bad_amount``)
    naming the row."""
    body = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not body or not body[0].startswith("支付宝交易号"):
        raise ValidationError("bill.format", "not an Alipay bill (no 支付宝交易号 header)")
    header = [h.strip() for h in next(csv.reader([body[0]]))]
    need = ("支付宝交易号", "商户订单号", "业务类型", "完成时间", "订单金额（元）")
    missing = [h for h in need if h not in header]
    if missing:
        raise ValidationError("bill.format", f"Alipay bill without {missing}")
    col = {h: header.index(h) for h in need}
    rows: list[BillRow] = []
    for n, line in enumerate(body[1:], start=2):
        values = _fields_of(line, header, f"row {n}")
        kind = {"交易": "payment", "退款": "refund"}.get(values[col["业务类型"]])
        if kind is None:
            continue
        rows.append(BillRow("alipay", values[col["支付宝交易号"]], values[col["商户订单号"]], kind,
                            abs(_fen(values[col["订单金额（元）"]], f"row {n}")),
                            values[col["完成时间"]]))
    return rows


def parse_bill(provider: str, data: bytes) -> list[BillRow]:
    """The bill file of ``provider`` (``wechat`` | ``alipay``). Raises ValidationError."""
    if provider == "wechat":
        return parse_wechat_bill(_decode(data))
    if provider == "alipay":
        return parse_alipay_bill(_decode(data))
    raise ValidationError("bill.provider", f"unknown provider {provider!r}")


def reconcile(provider: str, bill: Sequence[BillRow], books: Iterable[BookedPayment]) -> Reconciliation:
    """Pure: the provider's rows per trade against ours (see the module doc)."""
    at_provider: dict[str, dict[str, int]] = {}  # key -> {"payment": fen, "refund": fen}
    otn_of: dict[str, str] = {}
    for row in bill:
        key = row.transaction_id or row.out_trade_no
        sums = at_provider.setdefault(key, {"payment": 0, "refund": 0})
        sums[row.kind] += row.amount
        otn_of.setdefault(key, row.out_trade_no)
    by_otn = {otn: key for key, otn in otn_of.items() if otn}
    ours: dict[str, list[BookedPayment]] = {}
    mismatches: list[Mismatch] = []
    books_total = 0
    for p in books:
        sign = -1 if p.kind == "refund" else 1
        books_total += sign * p.amount
        key = p.transaction_id if p.transaction_id in at_provider else by_otn.get(p.out_trade_no, "")
        if not key:
            mismatches.append(Mismatch("not_at_provider", p.transaction_id, p.out_trade_no, 0,
                                       sign * p.amount, p.receipt_no))
            continue
        ours.setdefault(key, []).append(p)
    matched = 0
    for key, rows in ours.items():
        theirs = at_provider[key]
        mine = {"payment": 0, "refund": 0}
        for p in rows:
            mine["refund" if p.kind == "refund" else "payment"] += p.amount
        if mine["payment"] - mine["refund"] == theirs["payment"] - theirs["refund"]:
            matched += len(rows)  # each of our rows (a payment, its refund) is matched
            continue
        first = next((p for p in rows if p.kind != "refund"), rows[0])
        mismatches.append(Mismatch("amount_differs", key, otn_of.get(key, first.out_trade_no),
                                   theirs["payment"] - theirs["refund"],
                                   mine["payment"] - mine["refund"], first.receipt_no))
    net = {key: sums["payment"] - sums["refund"] for key, sums in at_provider.items()}
    for key, amount in sorted(net.items()):
        if key not in ours and amount != 0:
            mismatches.append(Mismatch("not_in_books", key, otn_of.get(key, ""), amount, 0))
    return Reconciliation(provider, matched, sum(net.values()), books_total, mismatches)


def books_for(conn: Connection, provider: str, days: Iterable[str]) -> list[BookedPayment]:
    """Our payments by ``provider`` on ``days`` (``YYYY-MM-DD``, the library's local days), and
    the refunds through it (``payment.refunded``: a provider's method is never a deposit's)."""
    t = m.payments
    rows = conn.execute(sa.select(t).where(t.c.method == provider,
                                           t.c.kind.in_(("payment", "refund", "ils")),
                                           t.c.occurred_day.in_(sorted(set(days))))).all()
    return [BookedPayment(r.payment_id, r.receipt_no, r.method, r.transaction_id or "",
                          r.out_trade_no or "", int(r.amount), r.kiosk_id, r.occurred_day,
                          str(r.kind))
            for r in rows]


def bill_days(bill: Sequence[BillRow]) -> list[str]:
    """The days a bill covers (its rows' dates; a one-day bill: one day)."""
    return sorted({row.at[:10] for row in bill if len(row.at) >= 10})


def reconcile_file(conn: Connection, provider: str, data: bytes, *,
                   days: Sequence[str] | None = None) -> Reconciliation:
    """Parse ``data`` and reconcile it against the books of ``days`` (default: the bill's)."""
    bill = parse_bill(provider, data)
    return reconcile(provider, bill, books_for(conn, provider, days or bill_days(bill)))
