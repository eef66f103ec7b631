"""The offline payment limit: while the record server is out of reach, one payment above
``offline_max_payment_fen`` is refused before any charge (``payment.offline_limit``); cash taken
by staff is exempt; online there is no limit."""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from kiosk.services import build_services
from kiosk.services.common import Tender
from kiosk.services.errors import OfflineLimitExceeded
from kiosk.services.ports import AlwaysOnline, StatusConnectivity
from library_core.money import format_fen
from server_client.sync import RecordServerClient, SyncEngine, SyncLoop, SyncStatus
from tests.support.services import WECHAT_CODE, ServicesEnv, make_env, make_reader

ADULT_NEW_CARD = 10000 + 1000  # deposit + card fee in config/fees.toml


class Switch:
    """A ConnectivityProbe the test flips."""

    def __init__(self, online: bool) -> None:
        self.online = online
        self.asked = 0

    def is_online(self) -> bool:
        self.asked += 1
        return self.online

    def out_of_service(self) -> bool:
        return False


def _env(tmp_path: Path, probe: Switch, limit: int) -> ServicesEnv:
    env = make_env(tmp_path / "kiosk.sqlite3", offline_max_payment_fen=limit)
    services = build_services(env.store, env.clock, env.gateway, env.writer, env.config,
                              connectivity=probe, staff_authority=env.staff)
    return dataclasses.replace(env, services=services)


@pytest.fixture
def probe() -> Switch:
    return Switch(online=False)


@pytest.fixture
def env(tmp_path: Path, probe: Switch) -> Iterator[ServicesEnv]:
    e = _env(tmp_path, probe, limit=10000)
    yield e
    e.store.close()


def test_new_card_over_the_limit_offline_is_refused_before_any_charge(env: ServicesEnv,
                                                                       probe: Switch) -> None:
    before = env.counts()
    env.writer.place_blank()
    with pytest.raises(OfflineLimitExceeded) as info:
        env.services.cards.new_card(make_reader(1), Tender.payment_code(WECHAT_CODE))
    err = info.value
    assert err.message_id == "payment.offline_limit"
    assert err.params == {"limit": 10000, "limit_text": format_fen(10000)}
    assert probe.asked >= 1
    assert env.gateway.attempts == 0 and env.gateway.charges == []
    assert env.writer.writes == 0
    assert env.counts() == before


def test_payment_at_the_limit_is_taken_offline(tmp_path: Path, probe: Switch) -> None:
    env = _env(tmp_path, probe, limit=ADULT_NEW_CARD)
    try:
        result = env.new_card(1)
        assert result.amount == ADULT_NEW_CARD
        assert env.gateway.net_taken() == ADULT_NEW_CARD
        assert env.store.count("readers") == 1
    finally:
        env.store.close()


def test_cash_taken_by_staff_is_exempt(env: ServicesEnv) -> None:
    desk = env.desk()
    env.writer.place_blank()
    result = env.services.cards.new_card(make_reader(2), Tender.cash_by(desk))
    assert result.amount == ADULT_NEW_CARD > env.config.offline_max_payment_fen
    pay = env.store.read_one("SELECT method, amount, staff_no FROM payments")
    assert (pay["method"], int(pay["amount"]), pay["staff_no"]) == ("cash", ADULT_NEW_CARD, "S0001")
    assert env.gateway.attempts == 0  # cash never goes to the gateway


def test_online_there_is_no_limit(tmp_path: Path, probe: Switch) -> None:
    probe.online = True
    env = _env(tmp_path, probe, limit=0)
    try:
        result = env.new_card(1)
        assert result.amount == ADULT_NEW_CARD and env.gateway.net_taken() == ADULT_NEW_CARD
    finally:
        env.store.close()


def test_the_same_services_follow_the_connection(env: ServicesEnv, probe: Switch) -> None:
    probe.online = True
    first = env.new_card(1)
    probe.online = False
    with pytest.raises(OfflineLimitExceeded):
        env.new_card(2)
    probe.online = True
    second = env.new_card(3)
    assert {first.amount, second.amount} == {ADULT_NEW_CARD}
    assert env.gateway.net_taken() == 2 * ADULT_NEW_CARD and env.store.count("readers") == 2


def test_renewal_and_fees_over_the_limit_are_refused_offline(tmp_path: Path, probe: Switch) -> None:
    probe.online = True
    env = _env(tmp_path, probe, limit=500)  # below the 10.00 renewal fee
    try:
        card = env.new_card(1)
        with env.store.transaction() as tx:
            tx.insert("fees", {"fee_id": "f1", "reader_id": card.reader_id, "kind": "overdue",
                               "amount": 800, "paid": 0, "status": "open", "description": "late",
                               "created_at": env.clock.now()})
        probe.online = False
        taken = env.gateway.net_taken()
        uid, raw = env.writer.tapped()
        with pytest.raises(OfflineLimitExceeded):
            env.services.cards.renew(uid, raw, 12, Tender.payment_code(WECHAT_CODE))
        with pytest.raises(OfflineLimitExceeded):
            env.services.fees.pay(card.reader_id, Tender.payment_code(WECHAT_CODE))
        # a part within the limit is taken
        paid = env.services.fees.pay(card.reader_id, Tender.payment_code(WECHAT_CODE), amount=500)
        assert paid.amount == 500
        assert env.gateway.net_taken() == taken + 500
        assert env.store.read_one("SELECT expires_on FROM cards")["expires_on"] == \
            card.expires_on.isoformat()
    finally:
        env.store.close()


def test_default_is_always_online(tmp_path: Path) -> None:
    env = make_env(tmp_path / "k.sqlite3", offline_max_payment_fen=0)
    try:
        assert AlwaysOnline().is_online()
        assert env.new_card(1).amount == ADULT_NEW_CARD
    finally:
        env.store.close()


def test_status_adapter_follows_the_sync_loop(tmp_path: Path) -> None:
    assert not StatusConnectivity(lambda: None).is_online()
    assert StatusConnectivity(lambda: SyncStatus(online=True)).is_online()
    assert not StatusConnectivity(lambda: SyncStatus(online=False)).is_online()
    # a real sync loop against a port nothing listens on (127.0.0.1): its status says offline
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = make_env(tmp_path / "k.sqlite3")
    client = RecordServerClient(f"http://127.0.0.1:{port}", "K01", "token", retries=0,
                                connect_timeout_s=1.0)
    try:
        env.new_card(1)  # something pending to push
        loop = SyncLoop(SyncEngine(env.store, client, clock=env.clock))
        probe = StatusConnectivity(lambda: loop.status)
        status = loop.run_once()
        assert not status.online and status.last_error == "error.sync.offline"
        assert not probe.is_online()
    finally:
        client.close()
        env.store.close()
