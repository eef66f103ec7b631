"""Close of day asks for the cash counted (under Xvfb, touches on the real keypad, the ESC/POS
printer over TCP to the loopback socket printer): the drawer counted ¥1.00 short prints
"应有现金 / Cash expected", "实点现金 / Cash counted" and "差额 / Difference" on the Z-report in
the receipt's language, and the ``day.closed`` event's report carries the count. A count that is
not an amount (letters, a minus, fen below 0.01, absurdly large, two points) is refused with its
reason in both languages, and nothing is closed, queued or printed."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest

from devices.factory import build_printer
from devices.receipt_text import pad_between
from kiosk.services.common import Tender
from library_core import i18n
from library_core.cash_count import CASH_COUNT_MAX
from library_core.money import format_fen
from library_core.receipt_words import money
from tests.support.kivy_app import kiosk_session, kiosk_ui  # noqa: F401
from tests.support.printer_socket import SocketPrinter, printer_socket  # noqa: F401
from tests.support.xvfb import xvfb_display  # noqa: F401
from tests.ui.helpers import open_fees, seed_overdue_fines, seed_reader, services

pytestmark = pytest.mark.ui

SHORT = 100  # fen: the drawer counted ¥1.00 short


@contextlib.contextmanager
def socket_printed(d: Any, socket_printer: SocketPrinter) -> Iterator[None]:
    """The running app prints through the real ESC/POS driver to ``socket_printer``."""
    backend = d.app.ctx.backend
    saved = backend.printer
    backend.printer = build_printer(dataclasses.replace(
        d.parts.settings.printer, type="network", host=socket_printer.host,
        port=socket_printer.port, timeout_s=10.0))
    try:
        yield
    finally:
        backend.printer = saved



def a_day_with_cash(d: Any, uid: bytes, name: str) -> Any:
    """A reader's fines paid in cash at the desk today; the day's report (not yet closed)."""
    reader_id = seed_reader(d, uid, name=name)
    seed_overdue_fines(d, reader_id, [("Late One", 4), ("Late Two", 7)])
    supervisor = services(d)["staff"].login("S0002", "135790")
    fee_ids = [f["fee_id"] for f in open_fees(d, reader_id)]
    services(d)["fees"].pay(reader_id, Tender.cash_by(supervisor), fee_ids=fee_ids)
    report = services(d)["staff"].end_of_day_report(supervisor)
    assert report.cash_expected > SHORT
    return report


def to_count_entry(d: Any) -> None:
    """Staff log-in as the supervisor, close of day, past the figures to the count."""
    d.press(key="home.staff")
    d.type_digits("0002")
    d.press(key="nav.next")
    d.type_digits("135790")
    d.press(key="nav.next")
    d.press(key="staff.close_day")
    d.tap(d.app.screen.actions[0])  # the figures seen: on to the count
    assert d.app.screen.entry.mode == "yuan"
    assert d.find_all(raw=".")  # the keypad has its decimal point key


def yuan_text(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def day_closed_reports(d: Any, day: str) -> list[dict[str, Any]]:
    rows = d.parts.store.read("SELECT payload FROM outbox WHERE kind = 'day.closed'")
    return [r for r in (json.loads(row["payload"])["report"] for row in rows) if r["day"] == day]


def z_report_line(label_key: str, fen: int, language: str, columns: int = 48) -> bytes:
    """One amount line as the 80 mm layout prints it (label left, money flush right)."""
    return pad_between(i18n.translate(label_key, language), money(fen), columns).encode("gb18030")


def test_a_count_one_yuan_short_prints_counted_and_difference_and_goes_in_the_event(
        kiosk_ui, printer_socket: SocketPrinter) -> None:  # noqa: F811
    d = kiosk_ui
    p = d.parts
    start = p.clock.now()
    p.clock.set(start + dt.timedelta(days=41))  # a day of its own in the shared session
    try:
        report = a_day_with_cash(d, b"\x04\x12\xd0\x41", "李雷")
        counted = report.cash_expected - SHORT
        with socket_printed(d, printer_socket):
            to_count_entry(d)
            d.type_digits(yuan_text(counted))  # the point typed on the keypad like a digit
            assert d.app.screen.entry.display == f"¥{yuan_text(counted)}"
            d.press(key="staff.close_day")
            d.pump_until(lambda: d.app.sm.current == "receipt", "day closed")
            assert d.app.screen.printed
            receipt_no = d.app.screen.receipt_no.encode()
            job = printer_socket.wait_for_job(lambda j: receipt_no in j, "the Z-report")
        for key, fen in (("receipt.field.cash_expected", report.cash_expected),
                         ("receipt.field.cash_counted", counted),
                         ("receipt.field.cash_difference", -SHORT)):
            assert z_report_line(key, fen, "zh_CN") in job, key
        assert "应有现金".encode("gb18030") in job and "差额".encode("gb18030") in job
        assert "-￥1.00".encode("gb18030") in job

        closed = day_closed_reports(d, report.day)
        assert len(closed) == 1
        assert closed[0]["cash_counted"] == counted
        assert closed[0]["cash_expected"] == report.cash_expected
        d.press(key="nav.done")
    finally:
        p.clock.set(start)


HOSTILE_TYPED = [  # typed on the keypad
    ("1.234", "cash_count.too_many_decimals"),
    ("12..5", "cash_count.not_a_number"),
    ("99999999999", "cash_count.too_large"),  # ¥99,999,999,999: absurd for a drawer
]
HOSTILE_KEYED = [  # as a keyboard wedge or a stuck key would put them in the field
    ("12a", "cash_count.not_a_number"),
    ("-5.00", "cash_count.negative"),
    ("1e3", "cash_count.not_a_number"),
    ("１２", "cash_count.not_a_number"),  # full-width digits
    (yuan_text(CASH_COUNT_MAX + 1), "cash_count.too_large"),
    ("99999999999999999999999999999.00", "cash_count.too_large"),
]


def test_a_count_that_is_not_an_amount_is_refused_by_name_and_nothing_closes(
        kiosk_ui, printer_socket: SocketPrinter) -> None:  # noqa: F811
    d = kiosk_ui
    p = d.parts
    start = p.clock.now()
    p.clock.set(start + dt.timedelta(days=42))
    try:
        report = a_day_with_cash(d, b"\x04\x12\xd0\x42", "韩梅")
        queued = p.store.read_one("SELECT COUNT(*) FROM outbox")[0]
        d.app.set_language("en")
        with socket_printed(d, printer_socket):
            to_count_entry(d)
            for text, message_id in HOSTILE_TYPED + HOSTILE_KEYED:
                d.app.screen.entry.value = ""
                if (text, message_id) in HOSTILE_TYPED:
                    d.type_digits(text)
                else:
                    d.app.screen.entry.value = text
                d.press(key="staff.close_day")
                d.pump_until(lambda: not d.app.screen.busy, "count checked")
                assert d.app.sm.current == "staff", text
                assert d.app.screen.error_key == message_id, text
                params = {"max": format_fen(CASH_COUNT_MAX, symbol="¥")}
                assert d.app.screen.error == i18n.translate(message_id, "en", **params)
                assert d.app.screen.error in d.texts()
                d.app.set_language("zh_CN")
                d.pump()
                assert d.app.screen.error == i18n.translate(message_id, "zh_CN", **params)
                d.app.set_language("en")
                d.pump()
            assert p.store.read_one("SELECT 1 FROM days_closed WHERE day = ?",
                                    (report.day,)) is None
            assert day_closed_reports(d, report.day) == []
            assert p.store.read_one("SELECT COUNT(*) FROM outbox")[0] == queued
            assert printer_socket.jobs == []

            # the same screen then takes a good count: the Z-report in English
            d.app.screen.entry.value = ""
            d.type_digits(yuan_text(report.cash_expected))
            d.press(key="staff.close_day")
            d.pump_until(lambda: d.app.sm.current == "receipt", "day closed")
            receipt_no = d.app.screen.receipt_no.encode()
            job = printer_socket.wait_for_job(lambda j: receipt_no in j, "the Z-report")
        for key, fen in (("receipt.field.cash_expected", report.cash_expected),
                         ("receipt.field.cash_counted", report.cash_expected),
                         ("receipt.field.cash_difference", 0)):
            assert z_report_line(key, fen, "en") in job, key
        assert day_closed_reports(d, report.day)[0]["cash_counted"] == report.cash_expected
        d.press(key="nav.done")
    finally:
        p.clock.set(start)
