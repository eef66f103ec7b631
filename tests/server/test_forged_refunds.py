"""The deposit a ``card.cancelled`` says was refunded (issue 11.1, money), over the real HTTP
API on SQLite and PostgreSQL: at most the deposit held, only with the reader's cards cancelled,
only once, and only by a supervisor whose staff proof holds. Otherwise the cancellation is
refused by name (``refund_exceeds_deposit``, ``card_not_cancelled``, ``staff_role_required``,
``staff_proof_missing``) and nothing changes. The events come from the real kiosk use cases
(``StaffDesk.refund_deposit_and_cancel``, ``CardReplacement.replace``).
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

from kiosk.services.common import Tender
from tests.server.test_forged_claims import (  # noqa: F401
    Pusher,
    forge_fixture,
    new_reader,
    of_kind,
    refused,
)
from tests.support.postgres import postgres_cluster_fixture  # noqa: F401
from tests.support.server_process import (  # noqa: F401
    db_url_fixture,
    server_factory_fixture,
)
from tests.support.services import DESK, WECHAT_CODE, make_reader


def _applied(p: Pusher, events: list[dict[str, Any]]) -> None:
    assert [r["status"] for r in p.push(events)] == ["applied"] * len(events)


def _cancellation(p: Pusher, reader_id: str) -> list[dict[str, Any]]:
    p.env.services.staff.refund_deposit_and_cancel(p.env.supervisor(), reader_id, "moving away")
    events = p.take()
    assert [e["kind"] for e in events] == ["card.blocked", "card.cancelled", "deposit.refunded"]
    return events


def test_a_refund_claimed_on_cancellation_is_at_most_the_deposit_and_once(forge: Pusher) -> None:
    reader = new_reader(forge)
    block, cancel, refund = _cancellation(forge, reader.reader_id)
    assert cancel["payload"]["deposit_refunded"] == 10_000  # an adult's deposit
    _applied(forge, [block])
    huge = copy.deepcopy(cancel)
    huge["payload"]["deposit_refunded"] = 9_999_999
    refused(forge, huge, "refund_exceeds_deposit")
    desk = copy.deepcopy(cancel)  # the desk member's own proof: cancel and refund are not theirs
    desk["payload"]["staff_no"] = DESK[0]
    desk["staff_proof"]["session_id"] = forge.env.desk().prover.proof_id
    refused(forge, desk, "staff_role_required")
    unproven = copy.deepcopy(cancel)
    unproven["staff_proof"] = None
    refused(forge, unproven, "staff_proof_missing")
    _applied(forge, [cancel, refund])
    again = copy.deepcopy(cancel)  # the deposit paid back once is not there to claim again
    refused(forge, again, "refund_exceeds_deposit")
    nothing = copy.deepcopy(cancel)  # cancelling again, claiming nothing: no harm, applies
    nothing["payload"]["deposit_refunded"] = 0
    nothing["event_id"] = str(uuid.uuid4())
    forge.env.services.staff.authority.resign(nothing)
    _applied(forge, [nothing])


def test_no_refund_claimed_while_another_card_of_the_reader_is_live(forge: Pusher) -> None:
    reader = new_reader(forge)
    services = forge.env.services
    auth = services.cards.verify_reader(make_reader(1).id_number, make_reader(1).pin)
    forge.env.writer.place_blank()
    services.cards.replace(auth, Tender.payment_code(WECHAT_CODE))
    replacement = forge.take()
    old_card = of_kind(replacement, "card.replaced")["payload"]["old_card_no"]
    block, cancel, refund = _cancellation(forge, reader.reader_id)
    _applied(forge, replacement)
    on_old = copy.deepcopy(cancel)  # the replaced card cancelled, the new one still in use
    on_old["payload"]["card_no"] = old_card
    refused(forge, on_old, "card_not_cancelled")
    _applied(forge, [block, cancel, refund])
