"""Close the day under Xvfb: before the supervisor confirms, the screen shows the figures the
Z-report will print (takings by method, refunds, total, cash expected in the drawer), in the
reader's language; the printed report then carries the same cash expected."""

from __future__ import annotations

import datetime as dt

import pytest

from kiosk.services.common import Tender
from library_core import i18n
from library_core.money import format_fen
from tests.support.kivy_app import kiosk_session, kiosk_ui  # noqa: F401
from tests.support.xvfb import xvfb_display  # noqa: F401
from tests.ui.helpers import open_fees, seed_overdue_fines, seed_reader, services

pytestmark = pytest.mark.ui


def test_close_day_confirmation_shows_the_totals_that_will_print(kiosk_ui) -> None:  # noqa: F811
    d = kiosk_ui
    p = d.parts
    start = p.clock.now()
    p.clock.set(start + dt.timedelta(days=40))  # a day of its own in the shared session
    try:
        reader_id = seed_reader(d, b"\x04\x12\xd0\x01", name="韩梅")  # paid by WeChat
        seed_overdue_fines(d, reader_id, [("Late One", 3), ("Late Two", 6)])
        supervisor = services(d)["staff"].login("S0002", "135790")
        fee_ids = [f["fee_id"] for f in open_fees(d, reader_id)]
        services(d)["fees"].pay(reader_id, Tender.cash_by(supervisor), fee_ids=fee_ids)
        report = services(d)["staff"].end_of_day_report(supervisor)
        assert report.taken_by_method.get("cash", 0) > 0 and report.taken_by_method.get("wechat")

        d.app.set_language("en")
        d.press(key="home.staff")
        d.type_digits("0002")
        d.press(key="nav.next")
        d.type_digits("135790")
        d.press(key="nav.next")
        d.press(key="staff.close_day")
        shown = d.texts()
        for method, amount in report.taken_by_method.items():
            assert i18n.translate("staff.close_day.taken", "en",
                                  method=i18n.translate(f"receipt.method.{method}", "en"),
                                  amount=format_fen(amount)) in shown
        assert i18n.translate("staff.close_day.cash_expected", "en",
                              amount=format_fen(report.cash_expected)) in shown
        assert i18n.translate("staff.close_day.total", "en",
                              amount=format_fen(sum(report.taken_by_method.values()))) in shown
        assert p.store.read_one("SELECT 1 FROM days_closed WHERE day = ?",
                                (report.day,)) is None  # nothing closed yet
        d.app.set_language("zh_CN")
        d.pump()
        assert i18n.translate("staff.close_day.cash_expected", "zh_CN",
                              amount=format_fen(report.cash_expected)) in d.texts()

        d.tap(d.app.screen.actions[0])  # confirm: then the drawer's count
        assert p.store.read_one("SELECT 1 FROM days_closed WHERE day = ?",
                                (report.day,)) is None  # not closed before the count
        fen = report.cash_expected
        d.type_digits(f"{fen // 100}.{fen % 100:02d}")
        d.press(key="staff.close_day")
        assert d.app.sm.current == "receipt"
        closed = p.store.read_one("SELECT report FROM days_closed WHERE day = ?", (report.day,))
        assert closed is not None and f'"cash_expected": {report.cash_expected}' in closed[0]
        d.press(key="nav.done")
    finally:
        p.clock.set(start)
