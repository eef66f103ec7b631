"""Per-card MIFARE keys through the real stack (pcscd + vpcd + the virtual card, which enforces
keys and access bits): after issue a phone NFC app with the transport key can neither read nor
rewrite the token, key A cannot write, the kiosk reads with the card's own key, every card has
its own keys, and a legacy card is read with the legacy key and re-keyed on its next write."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from smartcard.System import readers

from devices.card_reader import CardAuthError, CardWriteError
from devices.pcsc_card_reader import PcscCardReader
from library_core.mifare import TRANSPORT_KEY
from tests.integration.test_pcsc_card_reader import (  # noqa: F401
    KEY_A,
    KEY_B,
    Events,
    events,
    own_keys,
    reader,
    token_for,
)
from tests.support.pcscd import VIRTUAL_READER, pcscd  # noqa: F401
from tests.support.virtual_card import LIBRARY_ACCESS, TRANSPORT_ACCESS, VirtualCard

pytestmark = pytest.mark.pcsc

SW_OK, SW_AUTH_FAILED, SW_SECURITY = 0x9000, 0x6300, 0x6982
TOKEN_BLOCK, TRAILER_BLOCK = 4, 7
_made: list[VirtualCard] = []


def card(uid_hex: str, **kwargs: object) -> VirtualCard:
    made = VirtualCard(bytes.fromhex(uid_hex), sector=1, **kwargs)  # type: ignore[arg-type]
    _made.append(made)
    return made


@pytest.fixture(autouse=True)
def _cards_off_the_reader() -> Iterator[None]:
    yield
    while _made:
        _made.pop().remove()


class PhoneApp:
    """What a phone NFC app does with a card: raw APDUs, keys of its choosing (pyscard)."""

    def __init__(self) -> None:
        found = [r for r in readers() if VIRTUAL_READER in str(r)]
        self.connection = found[0].createConnection()
        self.connection.connect()

    def send(self, apdu: bytes) -> tuple[bytes, int]:
        data, sw1, sw2 = self.connection.transmit(list(apdu))
        return bytes(data), (sw1 << 8) | sw2

    def authenticate(self, key: bytes, key_type: int, block: int = TOKEN_BLOCK) -> int:
        self.send(bytes([0xFF, 0x82, 0x00, 0x00, 0x06]) + key)
        _, sw = self.send(bytes([0xFF, 0x86, 0x00, 0x00, 0x05, 0x01, 0x00, block, key_type, 0x00]))
        return sw

    def update(self, block: int, data: bytes) -> int:
        return self.send(bytes([0xFF, 0xD6, 0x00, block, 0x10]) + data)[1]

    def read(self, block: int) -> tuple[bytes, int]:
        return self.send(bytes([0xFF, 0xB0, 0x00, block, 0x10]))

    def reselect(self) -> None:
        """Select the card again (a failed authentication halts it): reconnect with a reset."""
        from smartcard.scard import SCARD_RESET_CARD

        self.connection.reconnect(disposition=SCARD_RESET_CARD)

    def close(self) -> None:
        self.connection.disconnect()
        self.connection.release()


def issue(reader: PcscCardReader, events: Events, blank: VirtualCard) -> bytes:  # noqa: F811
    """Tap a blank card, read it (blank) and write a token, as the card service does."""
    blank.insert()
    uid = events.inserted().uid
    assert reader.read_token(uid) == bytes(48)
    token = token_for(uid)
    reader.write_token(uid, token)
    return token


def test_after_issue_the_transport_key_opens_nothing_and_key_a_cannot_write(
    reader: PcscCardReader, events: Events,  # noqa: F811
) -> None:
    blank = card("04C0FFEE", library_access=False)
    assert blank.trailer(1) == (TRANSPORT_KEY, TRANSPORT_ACCESS, TRANSPORT_KEY)
    token = issue(reader, events, blank)
    own = own_keys(blank.uid)
    assert blank.trailer(1) == (own.key_a, LIBRARY_ACCESS, own.key_b)
    assert blank.sector_data(1) == token

    phone = PhoneApp()
    try:
        for key_type in (0x60, 0x61):  # the transport key, as key A and as key B
            assert phone.authenticate(TRANSPORT_KEY, key_type) == SW_AUTH_FAILED
            assert phone.update(TOKEN_BLOCK, bytes(16)) == SW_SECURITY
            assert phone.read(TOKEN_BLOCK)[1] == SW_SECURITY
            assert phone.authenticate(own.key_a, 0x60) == SW_AUTH_FAILED  # halted till reselected
            phone.reselect()
        # even with the card's own key A (it can be cracked): it reads, it cannot write
        assert phone.authenticate(own.key_a, 0x60) == SW_OK
        assert phone.read(TOKEN_BLOCK) == (token[:16], SW_OK)
        assert phone.update(TOKEN_BLOCK, bytes(16)) == SW_SECURITY
        trailer = TRANSPORT_KEY + bytes.fromhex("FF078069") + TRANSPORT_KEY
        assert phone.update(TRAILER_BLOCK, trailer) == SW_SECURITY  # nor put the transport key back
        assert phone.read(TRAILER_BLOCK)[0][10:] == bytes(6)  # key B is never readable
    finally:
        phone.close()
    assert blank.sector_data(1) == token  # nothing changed
    assert blank.trailer(1) == (own.key_a, LIBRARY_ACCESS, own.key_b)

    # The kiosk reads it with the card's own key A: one key load, one authentication.
    before = len(blank.apdus)
    assert reader.read_token(blank.uid) == token
    loads = [a for a in blank.apdus[before:] if a[:2] == b"\xff\x82"]
    auths = [a for a in blank.apdus[before:] if a[:2] == b"\xff\x86"]
    assert [a[5:] for a in loads] == [own.key_a] and len(auths) == 1
    blank.remove()
    events.removed()

    # A second card gets other keys.
    second = card("04D00D00", library_access=False)
    issue(reader, events, second)
    other = own_keys(second.uid)
    assert second.trailer(1) == (other.key_a, LIBRARY_ACCESS, other.key_b)
    assert {other.key_a, other.key_b}.isdisjoint({own.key_a, own.key_b})


def test_a_legacy_card_is_read_with_the_legacy_key_and_rekeyed_on_its_next_write(
    reader: PcscCardReader, events: Events,  # noqa: F811
) -> None:
    legacy = card("04A1B2C3", key_a=KEY_A, key_b=KEY_B)  # issued under the old fixed pair
    old = token_for(legacy.uid, generation=1)
    legacy.set_sector_data(1, old)
    legacy.insert()
    uid = events.inserted().uid
    assert reader.read_token(uid) == old

    renewed = token_for(uid, generation=2)
    reader.write_token(uid, renewed)  # a renewal

    own = own_keys(uid)
    assert legacy.trailer(1) == (own.key_a, LIBRARY_ACCESS, own.key_b)
    assert legacy.sector_data(1) == renewed
    phone = PhoneApp()
    try:
        assert phone.authenticate(KEY_A, 0x60) == SW_AUTH_FAILED  # the old key is gone
        phone.reselect()
        assert phone.authenticate(KEY_B, 0x61) == SW_AUTH_FAILED
    finally:
        phone.close()
    assert reader.read_token(uid) == renewed


def test_a_card_whose_keys_the_kiosk_does_not_know_is_refused_and_left_alone(
    reader: PcscCardReader, events: Events,  # noqa: F811
) -> None:
    foreign = card("04F0F0F0", key_a=bytes.fromhex("0F0E0D0C0B0A"),
                   key_b=bytes.fromhex("0A0B0C0D0E0F"))
    foreign.set_sector_data(1, b"\x22" * 48)
    trailer = foreign.block(TRAILER_BLOCK)
    foreign.insert()
    uid = events.inserted().uid
    with pytest.raises(CardAuthError) as read_error:
        reader.read_token(uid)
    assert read_error.value.message_id == "card.auth_failed"
    with pytest.raises(CardWriteError) as write_error:
        reader.write_token(uid, token_for(uid))
    assert write_error.value.message_id == "card.write_auth_failed"
    assert foreign.sector_data(1) == b"\x22" * 48 and foreign.block(TRAILER_BLOCK) == trailer
