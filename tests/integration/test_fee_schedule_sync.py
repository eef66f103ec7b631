"""The fee schedule the record server publishes is the one the kiosk prices from: before its
first pull a kiosk uses config/fees.toml (the seed), after it the pulled schedule; a changed
schedule on the server reaches the kiosk's next quote, and the charge matches the quote. A real
record server process on 127.0.0.1, serving a fee file the test writes and then changes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from config.settings import CONFIG_DIR
from kiosk.app_runtime import build_services
from kiosk.services.common import Tender
from kiosk.ui.backend import Backend
from library_core.fees import load_fee_schedule
from server_client.sync import RecordServerClient, SyncEngine
from tests.support.server_process import server_factory_fixture  # noqa: F401
from tests.support.services import WECHAT_CODE, make_reader

SEED = CONFIG_DIR / "fees.toml"


def _fees_file(path: Path, *, renewal_fee: int, adult_card_fee: int) -> Path:
    text = SEED.read_text(encoding="utf-8")
    text = re.sub(r"(?m)^renewal_fee = \d+", f"renewal_fee = {renewal_fee}", text)
    text = re.sub(r"(\[categories\.adult\]\ndeposit = \d+\ncard_fee = )\d+",
                  rf"\g<1>{adult_card_fee}", text)
    path.write_text(text, encoding="utf-8")
    schedule = load_fee_schedule(path)
    assert (schedule.renewal_fee, schedule.for_category("adult").card_fee) == (
        renewal_fee, adult_card_fee)
    return path


@pytest.fixture
def kiosk(tmp_path: Path) -> Any:
    """The kiosk's store, use cases and UI backend wired like ``kiosk.app_runtime`` does, from
    the demo config (seed: config/fees.toml); a card writer in memory, a fixed clock."""
    from config.settings import demo_settings_path, load_settings
    from kiosk.services.payment import SimulatedPaymentGateway
    from library_core.clock import FixedClock
    from server_client.store import Store
    from tests.support.services import START, MemoryCardWriter, add_staff

    settings = load_settings(demo_settings_path(), env={})
    store = Store.open(tmp_path / "kiosk.sqlite3", kiosk_id=settings.kiosk.id)
    add_staff(store)
    clock, writer, gateway = FixedClock(START), MemoryCardWriter(), SimulatedPaymentGateway()
    services = build_services(settings, store=store, clock=clock, card_reader=writer,
                              gateway=gateway)
    backend = Backend(settings=settings, clock=clock, store=store, services=services,
                      card_reader=writer, scanner=None, printer=None, parser=None)
    yield backend, writer, gateway
    store.close()


def test_kiosk_prices_from_the_schedule_the_server_publishes(
        kiosk: Any, server_factory: Any, tmp_path: Path,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    backend, writer, gateway = kiosk
    seed = load_fee_schedule(SEED)
    first = _fees_file(tmp_path / "fees-a.toml", renewal_fee=1100, adult_card_fee=1200)
    second = _fees_file(tmp_path / "fees-b.toml", renewal_fee=1300, adult_card_fee=1400)

    # an unsynced kiosk quotes from the seed
    assert backend.renewal_fee(12) == seed.renewal_fee
    assert backend.new_card_prices("adult") == (seed.for_category("adult").card_fee,
                                                seed.for_category("adult").deposit)

    monkeypatch.setenv("RECORD_SERVER_FEES_FILE", str(first))
    server = server_factory()
    server.cli("migrate")
    server.start()
    token = server.enroll("K01")
    engine = SyncEngine(backend.store, RecordServerClient(server.url, "K01", token, retries=1,
                                                          backoff_s=0.01), clock=backend.clock)
    engine.sync_once()

    # after a pull: the published schedule, for the quote and for the charge alike
    card_fee, deposit = backend.new_card_prices("adult")
    assert (card_fee, deposit) == (1200, seed.for_category("adult").deposit)
    writer.place_blank()
    issued = backend.cards.new_card(make_reader(41), Tender.payment_code(WECHAT_CODE))
    assert issued.amount == card_fee + deposit == gateway.charges[-1].amount
    quote = backend.renewal_fee(12)
    assert quote == 1100
    uid, raw = writer.tapped()
    renewed = backend.cards.renew(uid, raw, 12, Tender.payment_code(WECHAT_CODE))
    assert renewed.amount == quote == gateway.charges[-1].amount
    report = engine.sync_once()
    assert report.applied == report.pushed > 0 and report.rejected == report.conflicts == 0

    # the server's schedule changes (a restart publishes it): the next quote follows
    server.terminate()
    monkeypatch.setenv("RECORD_SERVER_FEES_FILE", str(second))
    server.start()
    assert backend.renewal_fee(12) == 1100  # not pulled yet
    engine.sync_once()
    quote = backend.renewal_fee(12)
    assert quote == 1300 and backend.new_card_prices("adult")[0] == 1400
    uid, raw = writer.tapped()
    renewed = backend.cards.renew(uid, raw, 12, Tender.payment_code(WECHAT_CODE))
    assert renewed.amount == quote == gateway.charges[-1].amount
    engine.client.close()


def test_a_bad_published_schedule_never_prices(kiosk: Any) -> None:
    """A pulled schedule that does not validate (a lying or broken server) is refused: the
    kiosk keeps pricing from the seed, nothing is raised at the reader."""
    backend, _writer, _gateway = kiosk
    seed = load_fee_schedule(SEED)
    bad = {**seed.to_dict(), "renewal_fee": -500}
    backend.store.apply_pulled_page(
        [{"seq": 1, "entity": "fee_schedule", "id": "current", "data": bad}], 1)
    assert backend.renewal_fee(12) == seed.renewal_fee
    assert backend.services["fee_schedule"].current() == seed
