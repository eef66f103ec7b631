"""The card use cases through the real driver: services + PcscCardReader + pcscd + vpcd +
the virtual MIFARE card. Issue, tap back, replace (the old card and an exact copy of it are
refused), and a card pulled mid-write leaves nothing behind and takes no money."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from devices.card_reader import CardAuthError, CardWriteError
from devices.factory import build_card_reader
from devices.pcsc_card_reader import PcscCardReader
from kiosk.services import build_services
from kiosk.services.common import Tender
from kiosk.services.errors import CardRefused
from kiosk.services.payment import SimulatedPaymentGateway
from library_core.errors import TokenError
from library_core.tokens import decode_card_token
from tests.integration.test_pcsc_card_reader import MASTER_KEY, Events, own_keys, settings
from tests.support.pcscd import PcscDaemon, pcscd  # noqa: F401
from tests.support.services import (
    WECHAT_CODE,
    OutboxReaderPins,
    ServicesEnv,
    make_env,
    make_reader,
)
from tests.support.virtual_card import LIBRARY_ACCESS, TRANSPORT_ACCESS, VirtualCard

pytestmark = pytest.mark.pcsc


@pytest.fixture
def env(tmp_path: Path, pcscd: PcscDaemon) -> Iterator[tuple[ServicesEnv, PcscCardReader, Events]]:  # noqa: F811
    base = make_env(tmp_path / "kiosk.sqlite3")
    reader = build_card_reader(settings(), master_key=MASTER_KEY)
    assert isinstance(reader, PcscCardReader)
    events = Events()
    reader.subscribe(events)
    reader.start()
    events.status("ready")
    services = build_services(base.store, base.clock, base.gateway, reader, base.config,
                              reader_pins=OutboxReaderPins(base.store, base.clock))
    env = ServicesEnv(base.store, base.clock, base.gateway, base.writer, base.config, services)
    try:
        yield env, reader, events
    finally:
        reader.stop()
        base.store.close()


_made: list[VirtualCard] = []


def blank_card(uid_hex: str) -> VirtualCard:
    """A factory-fresh card: transport key, factory access bits."""
    card = VirtualCard(bytes.fromhex(uid_hex), sector=1, library_access=False)
    _made.append(card)
    return card


@pytest.fixture(autouse=True)
def _cards_off_the_reader() -> Iterator[None]:
    """Whatever a test leaves on the one virtual reader is pulled before the next test."""
    yield
    while _made:
        _made.pop().remove()


def test_issue_tap_back_and_replace_through_pcscd(env: tuple[ServicesEnv, PcscCardReader, Events]) -> None:
    e, reader, events = env
    first = blank_card("04C0FFEE")
    assert first.trailer(1) == (b"\xff" * 6, TRANSPORT_ACCESS, b"\xff" * 6)
    first.insert()
    events.inserted()
    result = e.services.cards.new_card(make_reader(7), Tender.payment_code(WECHAT_CODE))
    first.remove()
    events.removed()
    # Issued: the token sector is locked with the card's own keys, key A reads, key B writes.
    own = own_keys(first.uid)
    assert first.trailer(1) == (own.key_a, LIBRARY_ACCESS, own.key_b)

    # The token on the card's memory verifies for that UID and names the card just bound.
    token = decode_card_token(first.sector_data(1)[:48], first.uid, e.config.library_key)
    assert (token.card_no, token.generation) == (result.card_no, 1)

    # Tap again: the reader's summary comes back through the real reader.
    first.insert()
    events.inserted()
    summary = e.services.cards.tap()
    assert summary.card_no == result.card_no
    copy = first.clone(bytes.fromhex("04BADBAD"))
    _made.append(copy)  # the same bytes (trailer too) on a card with another UID
    data_copy = blank_card("04BADBAE")  # the token alone, onto a blank card
    data_copy.set_sector_data(1, first.sector_data(1))
    first.remove()
    events.removed()

    # Replacement: ID number + PIN, a new blank card gets generation 2.
    auth = e.services.cards.verify_reader(make_reader(7).id_number, make_reader(7).pin)
    second = blank_card("04D00D00")
    second.insert()
    events.inserted()
    replaced = e.services.cards.replace(auth, Tender.payment_code(WECHAT_CODE))
    assert replaced.generation == 2
    second_keys = own_keys(second.uid)  # a second card gets other keys
    assert second.trailer(1) == (second_keys.key_a, LIBRARY_ACCESS, second_keys.key_b)
    assert {second_keys.key_a, second_keys.key_b}.isdisjoint({own.key_a, own.key_b})
    second.remove()
    events.removed()

    # The old card is refused as reported lost...
    first.insert()
    events.inserted()
    with pytest.raises(CardRefused) as refused:
        e.services.cards.tap()
    assert refused.value.message_id == "card.lost"
    first.remove()
    events.removed()

    # ...a copy of its memory on another UID does not even open: its keys belong to the first
    # UID...
    copy.insert()
    events.inserted()
    with pytest.raises(CardAuthError) as wrong_keys:
        e.services.cards.tap()
    assert wrong_keys.value.message_id == "card.auth_failed"
    copy.remove()
    events.removed()

    # ...and the token copied onto a blank card is refused by the MAC check.
    copy = data_copy
    copy.insert()
    events.inserted()
    with pytest.raises(TokenError) as copied:
        e.services.cards.tap()
    assert copied.value.reason == "other_card"
    copy.remove()
    events.removed()


# Where the card vanishes. Issuing reads the card first (the token sector's block 4, 5, 6),
# then writes blocks 4, 5, 6, then the trailer (block 7) with the card's own keys, then reads
# block 4 to 6 back: pulled after the first token block, after the second, with the whole token
# written but before the trailer (the card keeps the transport key), or during the read-back
# (token and the card's own keys landed).
PULLS = {
    "after-block-1": (b"\xff\xd6\x00\x05", 0, "half"),
    "after-block-2": (b"\xff\xd6\x00\x06", 0, "half"),
    "before-trailer": (b"\xff\xd6\x00\x07", 0, "transport"),
    "during-read-back": (b"\xff\xb0\x00\x04", 1, "own"),
}


@pytest.mark.parametrize("pull", list(PULLS))
def test_card_pulled_mid_write_leaves_nothing_and_refunds(
    env: tuple[ServicesEnv, PcscCardReader, Events], pull: str,
) -> None:
    e, reader, events = env
    before = e.snapshot()
    card = blank_card("04FA11ED")
    card.insert()
    events.inserted()
    prefix, skip, landed = PULLS[pull]
    card.fail_on(prefix, skip=skip)
    with pytest.raises(CardWriteError):
        e.services.cards.new_card(make_reader(8), Tender.payment_code(WECHAT_CODE))
    card.join()
    assert e.snapshot() == before  # no reader, card, fee, payment, receipt or outbox event
    assert isinstance(e.gateway, SimulatedPaymentGateway)
    assert e.gateway.net_taken() == 0 and e.gateway.charges  # charged, then refunded
    data = card.sector_data(1)[:48]
    assert data[:16] != bytes(16), "the pull must land after the write began"
    key_a, _, key_b = card.trailer(1)
    own = own_keys(card.uid)
    if landed == "own":
        assert (key_a, key_b) == (own.key_a, own.key_b)
    else:  # the trailer is written after the whole token, so the card kept the transport key
        assert key_a == b"\xff" * 6
    if landed == "half":  # a half-written token never verifies
        with pytest.raises(TokenError):
            decode_card_token(data, card.uid, e.config.library_key)
        return
    # The whole token landed before the pull, yet the card was not bound: tapping it is refused
    # as unknown, and it can be issued again (it counts as free to write).
    events.removed()
    card.insert()
    events.inserted()
    with pytest.raises(CardRefused) as refused:
        e.services.cards.tap()
    assert refused.value.message_id == "card.unknown"
    result = e.services.cards.new_card(make_reader(8), Tender.payment_code(WECHAT_CODE))
    assert e.services.cards.tap().card_no == result.card_no
