"""One real receipt of every kind, made by the real use cases on a real SQLite store.

Layout and printer tests take their receipts from here, never from hand-made samples: a hand-made
sample once hid a Z-report that printed raw fen and an untranslated message id.

``real_receipts(language)`` runs one business day on a fresh store with a fixed clock (new card,
renewal, returns with a fine, paying the fine in cash, replacement, a second reader cancelled with
a deposit refund, a visitor, the on-site roster, close of day) and returns the receipts by name;
``"reprint"`` is the new-card receipt marked as a reprint, as the journal reprint makes it. The
language is set on each receipt the way the UI backend does when it prints (the reader's
language). ``real_receipt(kind, language)`` gives one of them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import tempfile
from pathlib import Path

from kiosk.services.common import Tender
from kiosk.services.staff import EndOfDayReport
from kiosk.services.visitors import VisitorRequest
from library_core.receipts import Receipt, ReceiptKind
from tests.support.services import (
    ALIPAY_CODE,
    WECHAT_CODE,
    ServicesEnv,
    make_env,
    make_reader,
    resident_id,
)

LIBRARY_NAME = "市图书馆"
LIBRARY_NAME_EN = "City Library"
# titles as the record server sends them: long, CJK punctuation, mixed scripts
TITLES = ("红楼梦（上）：脂评汇校本", "三体Ⅱ：黑暗森林", "小王子", "The Little Prince (2nd ed.)")
NAMES = ("new_card", "renewal", "returns", "payment", "replacement", "refund", "visitor_pass",
         "roster", "end_of_day", "reprint")
KIND_NAMES: dict[ReceiptKind, str] = {k: str(k) for k in ReceiptKind}


def business_day(env: ServicesEnv, *, titles: tuple[str, ...] = TITLES) -> dict[str, Receipt]:
    """Run one day of every use case that prints on ``env``; the receipts by name."""
    out: dict[str, Receipt] = {}
    svc = env.services
    today = env.clock.now().date()
    desk = env.desk()
    env.writer.place_blank()
    first = svc.cards.new_card(make_reader(1), Tender.cash_by(desk))  # cash: the Z-report counts it
    out["new_card"] = first.receipt
    uid, raw = env.writer.tapped()
    out["renewal"] = svc.cards.renew(uid, raw, 12, Tender.payment_code(ALIPAY_CODE)).receipt
    late = env.add_item(1, titles[0])
    on_time = env.add_item(2, titles[1])
    held = env.add_item(3, titles[2], hold=True)
    env.add_item(4, titles[3])  # on the shelf: "not on loan" when scanned
    env.add_loan(first.reader_id, late, due_on=today - dt.timedelta(days=12))
    env.add_loan(first.reader_id, on_time, due_on=today + dt.timedelta(days=3))
    env.add_loan(first.reader_id, held, due_on=today + dt.timedelta(days=3))
    session = svc.returns.start()
    for barcode in (late, on_time, held, "30000000000040", "not-a-barcode"):
        session.scan(barcode)
    returns = session.finish()
    assert returns is not None
    out["returns"] = returns
    out["payment"] = svc.fees.pay(first.reader_id, Tender.cash_by(desk)).receipt
    auth = svc.cards.verify_reader(resident_id(1), "246813")
    env.writer.place_blank()
    out["replacement"] = svc.cards.replace(auth, Tender.payment_code(WECHAT_CODE)).receipt
    second = env.new_card(2)
    out["refund"] = svc.staff.refund_deposit_and_cancel(
        env.supervisor(), second.reader_id, "搬家 moving away").receipt
    visit = svc.visitors.register(VisitorRequest(
        name="欧阳娜娜", phone="13900001111", purpose="reading", host_department="reading_room",
        consent=True, id_number=resident_id(7)))
    out["visitor_pass"] = visit.receipt
    out["roster"] = svc.visitors.roster_receipt(desk)
    report, out["end_of_day"] = svc.staff.close_day(env.supervisor())
    _reports.append(report)
    out["reprint"] = dataclasses.replace(out["new_card"], reprint=True)
    return out


_reports: list[EndOfDayReport] = []  # the last day run's report (its amounts, for the tests)


def real_day_amounts(name: str) -> set[int]:
    """Money the receipt ``name`` reports beyond its own lines: the Z-report's sums (fen)."""
    if name != "end_of_day":
        return set()
    _day()
    r = _reports[-1]
    values = [r.cash_expected, r.waived, r.fines_assessed, *r.fees_by_kind.values(),
              *r.taken_by_method.values(), *r.refunds_by_method.values()]
    return {abs(v) for v in values if abs(v) >= 100}


EBASE = "https://lib.example.cn"  # the library's public host in receipt tests


def make_receipt_env(path: Path) -> ServicesEnv:
    """A services env whose config names the library in both languages; its reader receipts
    carry e-receipts on ``EBASE`` (``[receipts] public_base_url``)."""
    return make_env(path, library_name_en=LIBRARY_NAME_EN, ereceipt_base_url=EBASE)


@functools.lru_cache(maxsize=1)
def _day() -> tuple[tuple[str, Receipt], ...]:
    with tempfile.TemporaryDirectory(prefix="receipts-") as tmp:
        env = make_receipt_env(Path(tmp) / "kiosk.sqlite3")
        try:
            return tuple(business_day(env).items())
        finally:
            env.store.close()


def real_receipts(language: str = "zh_CN") -> dict[str, Receipt]:
    """Every receipt of one real business day, in ``language`` (as the backend prints them)."""
    return {name: dataclasses.replace(r, language=language) for name, r in _day()}


def real_receipt(kind: ReceiptKind | str, language: str = "zh_CN") -> Receipt:
    """The real receipt of ``kind`` (or a name such as ``"reprint"``) in ``language``."""
    return real_receipts(language)[str(kind)]


__all__ = ["NAMES", "business_day", "make_receipt_env", "real_day_amounts", "real_receipt",
           "real_receipts"]
