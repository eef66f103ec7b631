"""Outbox envelopes for the server benchmarks, in the sync contract of library_core/events.py.

``KioskStream`` makes one kiosk's events with rising ``seq``: each "new reader" is five events,
in the order the kiosk emits them (``kiosk/services/cards/issue.py``): reader registered, its
deposit and card fee assessed under ``rules.card_fee_id``, both paid by WeChat in one payment,
then the card issued (the server makes the card only once its fees are paid), the desk's most
common transaction. Serials are global, so every reader, fee, payment and ID number is unique across
kiosks (no merge conflicts unless a benchmark wants them). Card numbers are in the kiosk's own
range, as the server checks: the server gives a kiosk named ``K<n>`` the number n when it is free
(``record_server.auth``), and the bench's kiosk ids are all distinct.
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from typing import Any

from library_core.codes import make_card_no
from library_core.events import priority_of
from library_core.identity import id_check_char
from library_core.rules import card_fee_id

DAY = dt.date(2026, 11, 24)
DEPOSIT, CARD_FEE = 10_000, 1_000  # an adult's, in record_server/fees.toml (the server checks)


BIRTH_DAYS = 18_250  # birth dates 1950-01-01 .. 1999-12-18: every reader an adult (the server
# refuses a birth date that makes the reader under 14 with no guardian, or not yet born)


def resident_id(serial: int) -> str:
    """A valid resident ID number of an adult, unique for serial < 18,250,000 (birth date x
    sequence); the benchmarks' serial bases beyond that (per database, per kiosk) wrap."""
    birth = dt.date(1950, 1, 1) + dt.timedelta(days=(serial // 1000) % BIRTH_DAYS)
    first17 = f"110105{birth:%Y%m%d}{serial % 1000:03d}"
    return first17 + id_check_char(first17)


@functools.lru_cache(maxsize=1)
def pin_hash() -> str:
    from library_core.pins import hash_pin

    return hash_pin("135790")  # the kiosk's real cost: the server refuses a weaker hash


class KioskStream:
    def __init__(self, kiosk_id: str, first_serial: int) -> None:
        self.kiosk_id = kiosk_id
        self.seq = 0
        self.serial = first_serial
        self.receipts = 0
        self.cards = 0
        self.kiosk_no = int(kiosk_id.lstrip("K"))

    def env(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        self.seq += 1
        return {"event_id": str(uuid.uuid4()), "kiosk_id": self.kiosk_id, "seq": self.seq,
                "kind": kind, "occurred_at": f"{DAY.isoformat()}T10:00:00+08:00",
                "priority": priority_of(kind), "payload": payload}

    def new_reader(self) -> list[dict[str, Any]]:
        self.serial += 1
        n = self.serial
        self.receipts += 1
        self.cards += 1
        reader_id = f"rd-{n:09d}"
        card_no = make_card_no(self.kiosk_no * 10**8 + self.cards)
        deposit_id = card_fee_id(self.kiosk_id, card_no, "deposit")
        card_fee = card_fee_id(self.kiosk_id, card_no, "card")
        return [
            self.env("reader.registered", {
                "reader_id": reader_id, "name": f"读者{n}", "id_number": resident_id(n),
                "phone": f"13{n % 10**9:09d}", "category": "adult", "pin_hash": pin_hash(),
                "registered_at": f"{DAY.isoformat()}T10:00:00+08:00"}),
            self.env("fee.assessed", {"fee_id": deposit_id, "reader_id": reader_id,
                                      "kind": "deposit", "amount": DEPOSIT, "description": ""}),
            self.env("fee.assessed", {"fee_id": card_fee, "reader_id": reader_id, "kind": "card",
                                      "amount": CARD_FEE, "description": ""}),
            self.env("payment.recorded", {
                "payment_id": f"pay-{n:09d}", "reader_id": reader_id,
                "receipt_no": f"{self.kiosk_id}-{DAY:%Y%m%d}-{self.receipts:04d}",
                "method": "wechat", "amount": DEPOSIT + CARD_FEE,
                "allocations": [{"fee_id": deposit_id, "amount": DEPOSIT},
                                {"fee_id": card_fee, "amount": CARD_FEE}]}),
            self.env("card.issued", {"card_no": card_no, "reader_id": reader_id,
                                     "uid": f"{n:08X}", "generation": 1,
                                     "expires_on": "2029-11-24"}),
        ]

    def events(self, count: int) -> list[dict[str, Any]]:
        """``count`` events (a multiple of 5) of new readers."""
        out: list[dict[str, Any]] = []
        while len(out) < count:
            out.extend(self.new_reader())
        return out[:count]


def batches(items: list[dict[str, Any]], size: int) -> list[list[dict[str, Any]]]:
    return [items[i:i + size] for i in range(0, len(items), size)]
