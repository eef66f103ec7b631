"""A card costs its fees (issue 11.1, money): a thief with one kiosk's token pushes a new card
or a replacement without paying for it, over the real HTTP API (SQLite and PostgreSQL).

The kiosk assesses and pays a card's fees before it emits the card's event, under ids that name
the card (``library_core.rules.card_fee_id``): the server makes a card only when each fee the
schedule in force on the event's day asks for is the reader's, of that amount, and paid or
waived by a supervisor with a staff proof. Otherwise the card event is refused by name
(``deposit_not_paid``, ``card_fee_not_paid``, ``replacement_not_paid``) and nothing changes.
The events come from the real kiosk use cases (``tests/support/services.py``).
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

from kiosk.services.common import Tender
from library_core.codes import make_card_no
from library_core.rules import card_fee_id
from tests.server.test_forged_claims import (  # noqa: F401
    Pusher,
    forge_fixture,
    new_reader,
    of_kind,
    open_fine,
    refused,
)
from tests.support.postgres import postgres_cluster_fixture  # noqa: F401
from tests.support.server_process import (  # noqa: F401
    db_url_fixture,
    server_factory_fixture,
)
from tests.support.services import WECHAT_CODE, make_reader


def _statuses(p: Pusher, events: list[dict[str, Any]]) -> list[str]:
    return [r["status"] for r in p.push(events)]


def test_new_card_is_made_only_once_its_deposit_and_card_fee_are_paid(forge: Pusher) -> None:
    forge.env.new_card(1)
    events = forge.take()
    assert [e["kind"] for e in events] == ["reader.registered", "fee.assessed", "fee.assessed",
                                           "payment.recorded", "card.issued"]
    registered, deposit, card_fee, payment, issued = events
    card_no = issued["payload"]["card_no"]
    assert deposit["payload"]["fee_id"] == card_fee_id("K01", card_no, "deposit")
    assert _statuses(forge, [registered]) == ["applied"]
    refused(forge, copy.deepcopy(issued), "deposit_not_paid")  # a card for nothing
    assert _statuses(forge, [deposit, card_fee]) == ["applied"] * 2  # owed, not paid
    refused(forge, copy.deepcopy(issued), "deposit_not_paid")
    cheap = copy.deepcopy(deposit)  # a 1-fen "deposit" for another card of this kiosk's range
    other = make_card_no(10**8 + 777)
    cheap["payload"].update(fee_id=card_fee_id("K01", other, "deposit"), amount=1)
    cheap["event_id"] = str(uuid.uuid4())
    assert _statuses(forge, [cheap]) == ["applied"]
    elsewhere = copy.deepcopy(issued)
    elsewhere["payload"]["card_no"] = other
    refused(forge, elsewhere, "deposit_not_paid")  # not the schedule's amount
    assert _statuses(forge, [payment, issued]) == ["applied"] * 2
    twice = copy.deepcopy(issued)  # one payment buys one card
    twice["payload"].update(card_no=make_card_no(10**8 + 778), uid="0badcafe")
    refused(forge, twice, "reader_has_card")


def test_a_card_fee_waived_by_a_supervisor_lets_the_card_be_made(forge: Pusher) -> None:
    reader = new_reader(forge, 1)  # an honest reader, for the real waiver event's shape
    forge.env.new_card(2)
    registered, deposit, card_fee, _payment, issued = forge.take()
    assert _statuses(forge, [registered, deposit, card_fee]) == ["applied"] * 3
    fine = open_fine(forge, reader.reader_id)
    forge.env.services.staff.waive_fee(forge.env.supervisor(), fine, "hardship")
    waiver = of_kind(forge.take(), "fee.waived")

    def waived(fee: dict[str, Any]) -> dict[str, Any]:
        out = copy.deepcopy(waiver)  # the supervisor's waiver, of this fee, signed again
        out["payload"].update(fee_id=fee["payload"]["fee_id"],
                              reader_id=fee["payload"]["reader_id"])
        out["event_id"] = str(uuid.uuid4())
        forge.env.services.staff.authority.resign(out)
        return out

    unsigned = waived(deposit)
    unsigned["staff_proof"] = None
    refused(forge, unsigned, "staff_proof_missing")
    assert _statuses(forge, [waived(deposit)]) == ["applied"]
    refused(forge, copy.deepcopy(issued), "card_fee_not_paid")  # the card fee still owed
    assert _statuses(forge, [waived(card_fee), issued]) == ["applied"] * 2


def test_replacement_is_made_only_once_its_fee_is_paid(forge: Pusher) -> None:
    new_reader(forge, 1)
    services = forge.env.services
    auth = services.cards.verify_reader(make_reader(1).id_number, make_reader(1).pin)
    forge.env.writer.place_blank()
    services.cards.replace(auth, Tender.payment_code(WECHAT_CODE))
    events = forge.take()
    assert [e["kind"] for e in events] == ["card.blocked", "fee.assessed", "payment.recorded",
                                           "card.replaced"]
    block, fee, payment, replaced = events
    assert fee["payload"]["fee_id"] == card_fee_id("K01", replaced["payload"]["card_no"],
                                                   "replacement")
    assert _statuses(forge, [block]) == ["applied"]
    refused(forge, copy.deepcopy(replaced), "replacement_not_paid")
    assert _statuses(forge, [fee]) == ["applied"]
    refused(forge, copy.deepcopy(replaced), "replacement_not_paid")  # assessed, not paid
    assert _statuses(forge, [payment]) == ["applied"]
    another = copy.deepcopy(replaced)  # the paid fee names its own card, not this one
    another["payload"]["card_no"] = make_card_no(10**8 + 779)
    refused(forge, another, "replacement_not_paid")
    assert _statuses(forge, [replaced]) == ["applied"]
