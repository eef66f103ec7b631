"""Self-service returns under Xvfb with the SIP2 adapter: the kiosk's returns check in at the
test ILS (pysip2's real server on 127.0.0.1): a normal return, one with a hold (hold shelf), an
unknown item (the ILS's own screen message), and returns while the ILS is down (queued, the
status strip says so, forwarded when the link is back, the one it refuses in the staff-mode
exception report)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from kiosk.services import build_services
from kiosk.services.circulation import CirculationDesk, Forwarder
from kiosk.services.common import Role, StaffSession
from kiosk.services.config import ServicesConfig
from library_core import i18n
from server_client.sip2.circulation import Sip2Circulation
from server_client.sip2.client import Sip2Client, Sip2Login
from server_client.sip2.queue import StoreForwardQueue
from server_client.sip2.wire import Endpoint
from server_client.sip2.wiring import IlsRuntime
from tests.support.kivy_app import kiosk_session, kiosk_ui  # noqa: F401
from tests.support.test_ils import (
    INSTITUTION,
    LOCATION,
    ON_HOLD,
    ON_LOAN,
    ON_SHELF,
    OVERDUE,
    PASSWORD,
    UNKNOWN_ITEM,
    USER,
    TestIls,
    test_ils,  # noqa: F401  (fixture)
)
from tests.support.xvfb import xvfb_display  # noqa: F401
from tests.ui.helpers import journal_receipt

pytestmark = pytest.mark.ui


@pytest.fixture
def sip2_kiosk(kiosk_ui: Any, test_ils: TestIls) -> Iterator[tuple[Any, TestIls, IlsRuntime]]:  # noqa: F811
    """The session's kiosk with its returns at the test ILS (put back afterwards)."""
    d = kiosk_ui
    p = d.parts
    client = Sip2Client(Endpoint("127.0.0.1", test_ils.port),
                        Sip2Login(USER, PASSWORD, LOCATION, INSTITUTION), p.clock,
                        timeout_s=10.0, min_backoff_s=0.0, max_backoff_s=0.0)
    desk = CirculationDesk(Sip2Circulation(client), StoreForwardQueue(p.store))
    runtime = IlsRuntime(client, desk, Forwarder(desk, p.clock))
    runtime.client.subscribe(runtime._on_link)  # forwarding on reconnect (start() minus heartbeat)
    wired = build_services(p.store, p.clock, p.gateway, p.card_reader,
                           ServicesConfig.from_settings(p.settings), desk=desk)
    services = d.app.ctx.backend.services
    saved = {k: services.get(k) for k in ("returns", "ils", "ils_runtime")}
    last = p.store.read_one("SELECT coalesce(max(queue_id), 0) FROM ils_queue")[0]
    services.update(returns=wired.returns, ils=wired.ils, ils_runtime=runtime)
    yield d, test_ils, runtime
    services.update(saved)
    with p.store.transaction() as tx:  # the session's store: leave no ILS exception behind
        tx.execute("DELETE FROM ils_queue WHERE queue_id > ?", (last,))  # (for test_sip2_fees)
    client.close()
    d.app.ctx.backend.poll_status()


def line(key: str, **params: Any) -> str:
    return i18n.translate(key, "zh_CN", **params)


def test_returns_at_the_ils_normal_hold_unknown(sip2_kiosk: Any) -> None:
    d, ils, _runtime = sip2_kiosk
    jobs = len(d.parts.printer.jobs)
    d.scan(ON_LOAN)
    assert d.app.sm.current == "returns"
    d.scan(ON_HOLD)
    d.scan(UNKNOWN_ITEM)
    shown = d.texts()
    assert line("returns.line.ok", title="红楼梦") in shown
    assert line("returns.line.hold", title="三体") in shown  # for the hold shelf
    assert line("returns.line.ils_refused", title=UNKNOWN_ITEM,
                message="无此条码，请交给服务台 / Unknown item: please hand it to the desk") in shown
    assert [r.status for r in d.app.screen.results] == ["ok", "hold", "ils_refused"]
    assert ils.checkins == [ON_LOAN, ON_HOLD, UNKNOWN_ITEM]
    d.app.ctx.backend.poll_status()
    d.pump()
    assert (d.app.ils_state, d.app.ils_level) == ("status.ils.up", "ok")
    assert line("status.ils.up") in d.texts()  # on the status strip

    d.press(key="returns.finish")
    assert d.app.sm.current == "receipt", d.app.screen.error
    receipt_no, job = d.parts.printer.jobs[-1]
    assert len(d.parts.printer.jobs) == jobs + 1
    texts = [x.text for x in journal_receipt(d, receipt_no).lines]
    assert "已还 Returned: 红楼梦" in texts and "已还 Returned: 三体" in texts  # ILS print lines
    assert "已还 Returned: 红楼梦".encode("gb18030") in job
    d.press(key="nav.done")


def test_returns_while_the_ils_is_down_queued_then_forwarded(sip2_kiosk: Any) -> None:
    d, ils, runtime = sip2_kiosk
    for code in ("09", "93", "99"):
        for _ in range(10):
            ils.fault(code, "drop")
    d.scan(OVERDUE)
    d.scan(ON_SHELF)
    shown = d.texts()
    assert line("returns.line.queued", barcode=OVERDUE) in shown
    assert line("returns.line.queued", barcode=ON_SHELF) in shown
    assert ils.checkins == [] and runtime.desk.queue.pending_count() == 2
    d.app.ctx.backend.poll_status()
    d.pump()
    assert (d.app.ils_state, d.app.ils_level, d.app.ils_queued) == ("status.ils.down", "bad", 2)
    d.press(key="returns.finish")
    assert d.app.sm.current == "receipt", d.app.screen.error
    d.press(key="nav.done")

    # the ILS is back: the link comes up and the queue goes, in order, once
    ils.faults.clear()
    runtime.client.sc_status()
    end = time.monotonic() + 60  # forwarded on the link's own thread
    while runtime.desk.queue.pending_count():
        assert time.monotonic() < end, "the queued returns were not forwarded within 60 s"
        time.sleep(0.02)
    assert ils.checkins == [OVERDUE, ON_SHELF]
    [refused] = runtime.desk.queue.exceptions()
    assert refused.payload == {"item": ON_SHELF}

    # staff mode: the exception report lists the refused return with the ILS's words (the
    # session is made here: staff log-in itself is tested in test_reader_flows)
    d.app.staff = StaffSession("S0001", "王芳", Role("desk"), d.parts.clock.now())
    d.app.go("staff")
    d.pump()
    d.press(key="staff.ils_exceptions")
    d.pump()
    assert line("staff.ils_exception.checkin", at=refused.queued_at.strftime("%m-%d %H:%M"),
                item=ON_SHELF, answer=refused.answer, patron="", transaction_id="",
                amount="0.00") in d.texts()
    d.app.staff = None
    d.app.home()
