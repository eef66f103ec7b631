"""Shared steps for the UI tests: a card issued through the screens, readers, loans and fines
seeded through the real services, and reading what the printer received."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from library_core.codes import make_item_barcode
from library_core.identity import id_check_char
from library_core.receipts import Receipt

WECHAT_CODE = "134567890123456789"
READER_PIN = "482915"
_serials = itertools.count(500)


def make_id(serial: int) -> str:
    first = f"110105198{serial % 10}0307{serial % 1000:03d}"[:17]
    return first + id_check_char(first)


def id_card_of(name: str, id_number: str, *, valid_to: str = "20400101") -> Any:
    """The resident ID card (text block) of ``name`` / ``id_number``, as a reader decodes it."""
    from devices.id_card import IdCardData

    return IdCardData.from_fields(
        name=name, gender_code="1" if int(id_number[16]) % 2 else "2", ethnicity_code="01",
        birth_date=id_number[6:14], address="北京市东城区东华门街道南池子大街12号",
        id_number=id_number, issuing_authority="北京市公安局东城分局",
        valid_from=f"{int(valid_to[:4]) - 20}{valid_to[4:]}" if valid_to != "长期" else "20200101",
        valid_to=valid_to)


def place_id_card(d: Any, card: Any) -> None:
    """The reader's ID card on the ID-card reader (read at once), then taken off again."""
    d.parts.id_card_reader.place(card)
    d.pump()
    d.parts.id_card_reader.remove()
    d.pump()


def issue_card(d: Any, *, serial: int, uid: bytes,
               name: tuple[tuple[str, str], ...] = (("wang", "王"), ("ming", "明"))) -> str:
    """The whole new-card flow by touches: ID card placed, details confirmed, category, phone,
    PIN twice, payment code scanned, blank card placed. Returns the ID number; the receipt
    screen is showing."""
    d.press(key="home.new_card")
    assert d.app.sm.current == "new_card"
    id_number = make_id(serial)
    place_id_card(d, id_card_of("".join(char for _s, char in name), id_number))
    assert d.app.screen.identity is not None, d.app.screen.error
    d.press(key="nav.next")
    assert d.app.screen.step == 1, d.app.screen.error
    d.tap(d.find_all(key="category.option")[0])  # adult
    d.type_digits("13812345678")
    d.press(key="nav.next")
    d.type_digits(READER_PIN)
    d.press(key="nav.next")
    d.type_digits(READER_PIN)
    d.press(key="nav.next")
    assert d.app.screen.step == 4
    d.scan(WECHAT_CODE)
    assert d.app.screen.step == 5, d.app.screen.error
    d.tap_card(uid)
    assert d.app.sm.current == "receipt", d.app.screen.error
    return id_number


def services(d: Any) -> dict[str, Any]:
    return d.app.ctx.backend.services  # type: ignore[no-any-return]


def seed_reader(d: Any, uid: bytes, *, name: str = "赵敏") -> str:
    """A reader with a live card ``uid`` made through CardService (not the screens); the card
    is left off the reader and the app is back home. Returns the reader id."""
    from kiosk.services.cards import NewReader
    from kiosk.services.common import Tender

    serial = next(_serials)
    d.parts.card_reader.tap(uid)  # the blank card the service writes
    d.pump()
    result = services(d)["cards"].new_card(
        NewReader(name=name, id_number=make_id(serial), phone="13912345678", category="adult",
                  pin=READER_PIN), Tender.payment_code(WECHAT_CODE))
    d.remove_card()
    d.app.home()
    d.pump()
    return str(result.reader_id)


def add_item(d: Any, title: str) -> str:
    barcode = make_item_barcode(next(_serials))
    with d.parts.store.transaction() as tx:
        tx.insert("items", {"barcode": barcode, "title": title, "author": "", "call_no": "",
                            "status": "available", "hold": False})
    return barcode


def add_loan(d: Any, reader_id: str, barcode: str, *, days_late: int) -> None:
    """An open loan of ``barcode``, due ``days_late`` days before today (negative: not yet due)."""
    due = d.parts.clock.now().date() - dt.timedelta(days=days_late)
    with d.parts.store.transaction() as tx:
        tx.insert("loans", {"loan_id": f"loan-{barcode}", "item_barcode": barcode,
                            "reader_id": reader_id,
                            "borrowed_at": (due - dt.timedelta(days=30)).isoformat(),
                            "due_on": due, "returned_at": None})
        tx.update("items", "barcode", barcode, {"status": "on_loan"})


def seed_overdue_fines(d: Any, reader_id: str, titles_and_days: list[tuple[str, int]]) -> list[str]:
    """Loans returned late through ReturnService: open overdue fines on the reader's ledger."""
    barcodes = []
    for title, days in titles_and_days:
        barcode = add_item(d, title)
        add_loan(d, reader_id, barcode, days_late=days)
        barcodes.append(barcode)
    session = services(d)["returns"].start()
    for barcode in barcodes:
        session.scan(barcode)
    session.finish()
    return barcodes


def open_fees(d: Any, reader_id: str) -> list[Any]:
    return list(d.parts.store.read(
        "SELECT * FROM fees WHERE reader_id = ? AND status = 'open' ORDER BY created_at, fee_id",
        (reader_id,)))


def journal_receipt(d: Any, receipt_no: str) -> Receipt:
    row = d.parts.store.read_one("SELECT body FROM receipts WHERE receipt_no = ?", (receipt_no,))
    assert row is not None, receipt_no
    return Receipt.from_json(row["body"])


def printed_qr_payloads(job: bytes) -> list[str]:
    """The data of every native QR code (``GS ( k`` store, cn 49 fn 80) in ESC/POS bytes."""
    out = []
    start = 0
    marker = b"\x1d(k"
    while (i := job.find(marker, start)) >= 0:
        length = job[i + 3] + 256 * job[i + 4]
        if job[i + 5:i + 8] == b"1P0":
            out.append(job[i + 8:i + 5 + length].decode("utf-8"))
        start = i + 5 + length
    return out
