""""Online" means the record server accepted the last push and pull, not that it answered. The
session app is wired to a real sync loop against a real record server process: online at first;
then the kiosk's token is revoked with the server's CLI, and the next round (a 401) takes the
kiosk out of service: home says "out of service, please ask at the desk", the paying services are
off, the status strip says why, and a payment is refused with nothing charged."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from kiosk.services import build_services
from kiosk.services.common import Tender
from kiosk.services.config import ServicesConfig
from kiosk.services.errors import OutOfService
from kiosk.services.ports import StatusConnectivity
from library_core import i18n
from server_client.sync import RecordServerClient, SyncEngine, SyncLoop
from tests.support.kivy_app import kiosk_session, kiosk_ui  # noqa: F401
from tests.support.server_process import server_factory_fixture  # noqa: F401
from tests.support.xvfb import xvfb_display  # noqa: F401
from tests.ui.helpers import WECHAT_CODE, seed_overdue_fines, seed_reader, services

pytestmark = pytest.mark.ui


@pytest.fixture
def synced_kiosk(kiosk_ui: Any, server_factory: Any) -> Iterator[tuple[Any, Any, SyncLoop]]:  # noqa: F811
    """The session app with a real sync loop (run by the test, round by round) to a started
    record server, its status on the strip and behind the services' connectivity probe."""
    d = kiosk_ui
    p = d.parts
    server = server_factory()
    server.cli("migrate")
    server.start()
    token = server.enroll(p.settings.kiosk.id)
    client = RecordServerClient(server.url, p.settings.kiosk.id, token, retries=1, backoff_s=0.01)
    loop = SyncLoop(SyncEngine(p.store, client, clock=p.clock))
    backend = d.app.ctx.backend
    wired = build_services(p.store, p.clock, p.gateway, p.card_reader,
                           ServicesConfig.from_settings(p.settings),
                           connectivity=StatusConnectivity(lambda: loop.status))
    original, original_status = dict(services(d)), backend.sync_status
    services(d).update(cards=wired.cards, fees=wired.fees)
    backend.sync_status = lambda: loop.status
    try:
        yield d, server, loop
    finally:
        backend.sync_status = original_status
        services(d).clear()
        services(d).update(original)
        client.close()
        backend.poll_status()
        d.pump()


def _show_status(d: Any) -> None:
    d.app.ctx.backend.poll_status()
    d.pump()


def test_revoked_kiosk_is_out_of_service(synced_kiosk) -> None:
    d, server, loop = synced_kiosk
    p = d.parts
    home = d.app.get_screen("home")
    strip = d.app.root.ids.strip

    uid = b"\x04\x11\x00\x0b"
    reader_id = seed_reader(d, uid, name="秦岚")
    seed_overdue_fines(d, reader_id, [("Late Book", 5)])
    assert loop.run_once().online and loop.status.state == "online"
    _show_status(d)
    assert d.app.server_state == "status.server.online"
    assert not home.out_of_service and not home.ids.new_card.disabled

    server.cli("revoke-kiosk", "--kiosk-id", p.settings.kiosk.id)
    status = loop.run_once()
    assert not status.online and status.revoked and "401" in status.last_error
    _show_status(d)
    d.app.set_language("en")
    d.pump()
    assert d.app.sm.current == "home"
    banner = i18n.translate("home.out_of_service", "en")
    assert banner in d.texts()
    lamp = " ".join(str(getattr(c, "text", "")) for c in strip.ids.server.children)
    assert i18n.translate("status.server.revoked", "en") in lamp  # the strip says why
    for name in ("new_card", "renewal", "replacement", "fees"):
        assert home.ids[name].disabled, name
    assert not home.ids.returns.disabled and not home.ids.visitor.disabled

    # a card tapped on home does not open the paying renewal screen
    d.tap_card(uid)
    assert d.app.sm.current == "home"
    assert d.app.toast == i18n.translate("service.out_of_service", "en")
    d.remove_card()

    # the use case refuses a payment before any charge, whatever screen asks
    fee_ids = [f.fee_id for f in services(d)["fees"].open_fees(reader_id)]
    attempts, taken, outbox = p.gateway.attempts, p.gateway.net_taken(), p.store.count("outbox")
    with pytest.raises(OutOfService) as err:
        services(d)["fees"].pay(reader_id, Tender.payment_code(WECHAT_CODE), fee_ids=fee_ids)
    assert i18n.translate(err.value.message_id, "zh_CN") == "暂停服务，请到服务台办理。"
    assert (p.gateway.attempts, p.gateway.net_taken(), p.store.count("outbox")) == (
        attempts, taken, outbox)
    assert [f.fee_id for f in services(d)["fees"].open_fees(reader_id)] == fee_ids
