"""Self-service returns and visitor registration / sign-out under Xvfb: scans from the simulated
scanner, touches on the real widgets; assertions on the screen, the store and the printer."""

from __future__ import annotations

import pytest

from kiosk.services.common import mask_name
from library_core import i18n
from library_core.codes import make_item_barcode
from library_core.money import format_fen
from tests.support.kivy_app import kiosk_session, kiosk_ui  # noqa: F401
from tests.support.xvfb import xvfb_display  # noqa: F401
from tests.ui.helpers import add_item, add_loan, journal_receipt, printed_qr_payloads, seed_reader

pytestmark = pytest.mark.ui


def test_returns_several_items_unknown_overdue_and_twice(kiosk_ui) -> None:  # noqa: F811
    d = kiosk_ui
    reader_id = seed_reader(d, b"\x04\xe5\x00\x01", name="吴刚")
    on_time = add_item(d, "Poems of Li Bai")
    late = add_item(d, "Fortress Besieged")
    add_loan(d, reader_id, on_time, days_late=-3)
    add_loan(d, reader_id, late, days_late=7)
    unknown = make_item_barcode(999_999_001)  # a valid item barcode the library does not hold
    jobs = len(d.parts.printer.jobs)

    d.scan(on_time)  # a scan on the home screen opens returns with that item
    assert d.app.sm.current == "returns"
    d.scan(late)
    d.scan(unknown)
    d.scan(late)  # the same item again
    shown = d.texts()
    assert i18n.translate("returns.line.ok", "zh_CN", title="Poems of Li Bai") in shown
    assert i18n.translate("returns.line.overdue", "zh_CN", title="Fortress Besieged",
                          fine=format_fen(70)) in shown
    assert i18n.translate("returns.line.unknown", "zh_CN", barcode=unknown) in shown
    assert i18n.translate("returns.line.duplicate", "zh_CN", title="Fortress Besieged") in shown
    assert [line.status for line in d.app.screen.results] == ["ok", "overdue", "unknown", "duplicate"]

    # checked in once each; the fine is on the borrower's ledger
    loans = {r["item_barcode"]: r["returned_at"] for r in d.parts.store.read(
        "SELECT item_barcode, returned_at FROM loans WHERE reader_id = ?", (reader_id,))}
    assert loans[on_time] is not None and loans[late] is not None
    assert d.parts.store.count("outbox", "kind = 'loan.returned' AND payload LIKE ?",
                               (f"%{late}%",)) == 1
    fines = d.parts.store.read("SELECT amount, status, item_barcode FROM fees WHERE reader_id = ?"
                               " AND kind = 'overdue'", (reader_id,))
    assert [(int(f["amount"]), f["status"], f["item_barcode"]) for f in fines] == [(70, "open", late)]
    assert len(d.parts.printer.jobs) == jobs  # nothing printed until the reader is done

    d.press(key="returns.finish")
    assert d.app.sm.current == "receipt", d.app.screen.error
    assert len(d.parts.printer.jobs) == jobs + 1  # one receipt for all
    receipt_no, job = d.parts.printer.jobs[-1]
    receipt = journal_receipt(d, receipt_no)
    listed = " ".join(f"{line.text} {line.detail} {line.params}" for line in receipt.lines)
    for text in ("Poems of Li Bai", "Fortress Besieged", unknown):
        assert text in listed
    assert receipt.total == 70
    for text in (b"Poems of Li Bai", b"Fortress Besieged", unknown.encode()):
        assert text in job
    d.press(key="nav.done")


def test_visitor_registration_then_sign_out_by_scanning_the_pass(kiosk_ui) -> None:  # noqa: F811
    d = kiosk_ui
    jobs = len(d.parts.printer.jobs)
    d.press(key="home.visitor")
    d.type_pinyin("liu", "刘")
    d.type_pinyin("yang", "洋")
    d.press(key="nav.next")
    d.type_digits("13700001111")
    d.press(key="nav.next")
    d.press(key="nav.next")  # ID number is optional
    d.press(key="purpose.meeting")
    d.press(raw="档案室")  # departments from config, named in the reader's language
    assert "137****1111" in d.texts()
    assert "13700001111" not in d.texts()
    d.press(key="visitor.agree")
    assert d.app.sm.current == "visitor", d.app.screen.error
    assert len(d.parts.printer.jobs) == jobs + 1
    # printed, and the pass on screen too: masked name, valid until, the QR to scan at the exit
    shown = d.texts()
    assert i18n.translate("visitor.pass_name", "zh_CN", name=mask_name("刘洋")) in shown
    assert "刘洋" not in shown
    assert i18n.translate("receipt.printed", "zh_CN") in shown

    visit = d.parts.store.read_one("SELECT * FROM visitors ORDER BY visit_no DESC")
    assert (visit["name"], visit["purpose"], visit["host_department"]) == ("刘洋", "meeting", "archives")
    assert visit["closed_at"] is None
    # the pass token as printed: the QR code in the receipt bytes
    (token,) = printed_qr_payloads(d.parts.printer.jobs[-1][1])
    assert token == visit["pass_token"]
    assert d.app.screen.pass_qr.data == token and d.app.screen.pass_qr.texture is not None
    # the whole code is on screen at once, big enough to scan, with no scrolling
    qr = d.app.screen.pass_qr
    from kivy.core.window import Window
    from kivy.uix.scrollview import ScrollView

    x, y = qr.to_window(*qr.pos)
    side = min(qr.norm_image_size)
    assert side >= 200 and y >= 0 and y + qr.height <= Window.height and x + qr.width <= Window.width
    parent = qr.parent
    while parent is not None and parent is not d.app.root:
        assert not isinstance(parent, ScrollView), "the pass QR sits in a scrolled list"
        parent = parent.parent
    valid = visit["expires_at"][:16].replace("T", " ")
    assert i18n.translate("visitor.pass_valid_until", "zh_CN", time=valid) in shown
    d.press(key="nav.done")
    assert d.app.sm.current == "home"

    d.scan(token)  # on the way out
    assert d.app.sm.current == "visitor"
    assert i18n.translate("visitor.signed_out", "zh_CN", name=mask_name("刘洋")) in d.texts()
    closed = d.parts.store.read_one("SELECT closed_at, closed_how FROM visitors WHERE visit_id = ?",
                                    (visit["visit_id"],))
    assert closed["closed_how"] == "scanned" and closed["closed_at"] is not None
    assert d.parts.store.count("outbox", "kind = 'visit.closed' AND payload LIKE ?",
                               (f"%{visit['visit_id']}%",)) == 1
    d.press(key="nav.done")

    # the same pass again: told so, nothing closed twice
    d.scan(token)
    assert i18n.translate("visitor.already_signed_out", "zh_CN", name=mask_name("刘洋")) in d.texts()
    assert d.parts.store.count("outbox", "kind = 'visit.closed' AND payload LIKE ?",
                               (f"%{visit['visit_id']}%",)) == 1
