"""Offline payment limit on screen: with the record server out of reach (the sync status says
offline), a new card whose deposit + card fee exceed ``offline_max_payment_fen`` is refused with
``payment.offline_limit`` before anything is charged or stored; back online, the same person gets
the card. Touches on the real widgets under Xvfb, devices from the simulators; the services are
wired like ``kiosk.app_runtime.run`` does (a ``StatusConnectivity`` over a sync status)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest

from kiosk.services import build_services
from kiosk.services.config import ServicesConfig
from kiosk.services.ports import StatusConnectivity
from library_core import i18n
from library_core.identity import id_number_hash
from library_core.money import format_fen
from server_client.sync import SyncStatus
from tests.support.kivy_app import kiosk_session, kiosk_ui  # noqa: F401
from tests.support.xvfb import xvfb_display  # noqa: F401
from tests.ui.helpers import (
    READER_PIN,
    WECHAT_CODE,
    id_card_of,
    issue_card,
    make_id,
    place_id_card,
    services,
)

pytestmark = pytest.mark.ui

LIMIT = 10000  # 100.00: below the adult deposit + card fee (110.00)
SERIAL = 731


@dataclasses.dataclass
class Connection:
    """The sync status the kiosk sees; the test flips ``online``."""

    online: bool = False

    def status(self) -> SyncStatus:
        return SyncStatus(online=self.online)


@pytest.fixture
def offline_kiosk(kiosk_ui: Any) -> Iterator[tuple[Any, Connection]]:  # noqa: F811
    """The session app with its use cases rewired to a sync status the test controls and an
    offline limit of 100.00; the app's own services come back afterwards."""
    d = kiosk_ui
    conn = Connection(online=False)
    p = d.parts
    cfg = ServicesConfig.from_settings(p.settings, offline_max_payment_fen=LIMIT)
    wired = build_services(p.store, p.clock, p.gateway, p.card_reader, cfg,
                           connectivity=StatusConnectivity(conn.status))
    original = dict(services(d))
    services(d).update(cards=wired.cards, fees=wired.fees)
    try:
        yield d, conn
    finally:
        services(d).clear()
        services(d).update(original)


def _new_card_up_to_payment(d: Any, id_number: str) -> None:
    d.press(key="home.new_card")
    assert d.app.sm.current == "new_card"
    place_id_card(d, id_card_of("周星", id_number))
    d.press(key="nav.next")
    assert d.app.screen.step == 1, d.app.screen.error
    d.tap(d.find_all(key="category.option")[0])  # adult: 100.00 deposit + 10.00 card fee
    d.type_digits("13812345678")
    d.press(key="nav.next")
    d.type_digits(READER_PIN)
    d.press(key="nav.next")
    d.type_digits(READER_PIN)
    d.press(key="nav.next")
    assert d.app.screen.step == 4
    d.scan(WECHAT_CODE)
    assert d.app.screen.step == 5, d.app.screen.error


def test_offline_new_card_over_the_limit_is_refused_then_taken_online(offline_kiosk) -> None:
    d, conn = offline_kiosk
    p = d.parts
    deposit, fee = p.settings.fees.for_category("adult").deposit, p.settings.fees.for_category("adult").card_fee
    assert deposit + fee > LIMIT
    uid = b"\x04\xd7\x31\x01"
    id_number = make_id(SERIAL)
    attempts, taken, jobs = p.gateway.attempts, p.gateway.net_taken(), len(p.printer.jobs)
    outbox, readers = p.store.count("outbox"), p.store.count("readers")

    _new_card_up_to_payment(d, id_number)
    d.tap_card(uid)
    assert d.app.sm.current == "new_card"
    expected = i18n.translate("payment.offline_limit", "zh_CN", limit=LIMIT,
                              limit_text=format_fen(LIMIT))
    assert format_fen(LIMIT) in expected and "{" not in expected
    assert d.app.screen.error == expected
    assert expected in d.texts()
    # the same refusal in English when the reader switches language
    d.app.set_language("en")
    d.pump()
    english = i18n.translate("payment.offline_limit", "en", limit=LIMIT,
                             limit_text=format_fen(LIMIT))
    assert d.app.screen.error == english and english in d.texts()
    d.app.set_language("zh_CN")
    d.pump()
    # nothing charged, nothing stored, nothing printed, the card left blank
    assert p.gateway.attempts == attempts and p.gateway.net_taken() == taken
    assert p.store.count("readers") == readers and p.store.count("outbox") == outbox
    assert p.store.read_one("SELECT 1 FROM readers WHERE id_hash = ?",
                            (id_number_hash(id_number, p.settings.library_key),)) is None
    assert p.store.read_one("SELECT 1 FROM cards WHERE uid = ?", (uid.hex(),)) is None
    assert len(p.printer.jobs) == jobs
    d.remove_card()
    d.app.home()
    d.pump()

    # the server is reachable again: the same person, the same blank card, the card is issued
    conn.online = True
    assert issue_card(d, serial=SERIAL, uid=uid, name=(("zhou", "周"), ("xing", "星"))) == id_number
    assert p.gateway.net_taken() == taken + deposit + fee
    reader = p.store.read_one("SELECT reader_id FROM readers WHERE id_hash = ?",
                             (id_number_hash(id_number, p.settings.library_key),))
    assert reader is not None
    card = p.store.read_one("SELECT status, uid FROM cards WHERE reader_id = ?",
                            (reader["reader_id"],))
    assert (card["status"], card["uid"]) == ("active", uid.hex())
    assert len(p.printer.jobs) == jobs + 1
    d.press(key="nav.done")
    d.remove_card()
