"""The record server applies the kiosk's age rules (library_core.ages) to pushed registrations,
over the real HTTP API (SQLite and PostgreSQL): a child under 14 registers with a guardian's
phone; a registration without it, or claiming a child's or senior's card the birth date does not
give, is refused with a named reason and changes nothing; the kiosk's next honest event applies.

The honest events come from the real kiosk use case (CardService.new_card); each forged one is
an honest envelope with the lie written into it (as in test_forged_claims.py)."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

from kiosk.services.common import Tender
from tests.server.test_forged_claims import Pusher, forge_fixture, of_kind, refused  # noqa: F401
from tests.support.postgres import postgres_cluster_fixture  # noqa: F401
from tests.support.server_process import db_url_fixture, server_factory_fixture  # noqa: F401
from tests.support.services import WECHAT_CODE, make_reader, resident_id


def _register(p: Pusher, seq: int, **changes: Any) -> list[dict[str, Any]]:
    p.env.writer.place_blank()
    p.env.services.cards.new_card(dataclasses.replace(make_reader(seq), **changes),
                                  Tender.payment_code(WECHAT_CODE))
    return p.take()


def _forged(honest: dict[str, Any], seq: int, **payload: Any) -> dict[str, Any]:
    """Another reader's registration made from ``honest``, with ``payload`` written into it."""
    forged = {**honest, "payload": {**honest["payload"], "reader_id": str(uuid.uuid4()),
                                    "id_number": payload.pop("id_number", resident_id(seq)),
                                    **payload}}
    forged["payload"] = {k: v for k, v in forged["payload"].items() if v is not None}
    return forged


def test_child_registers_with_a_guardian_and_not_without(forge: Pusher) -> None:
    child = resident_id(51, birth="20160501")
    events = _register(forge, 51, id_number=child, category="child",
                       guardian_phone="13700001111")
    honest = of_kind(events, "reader.registered")
    assert honest["payload"]["guardian_phone"] == "13700001111"
    results = forge.push(events)
    assert [r["status"] for r in results] == ["applied"] * len(results), results
    refused(forge, _forged(honest, 52, id_number=resident_id(52, birth="20150101"),
                           guardian_phone=None), "guardian_required")


def test_a_senior_or_child_card_the_birth_date_does_not_give(forge: Pusher) -> None:
    events = _register(forge, 53)  # born 1990: adult
    honest = of_kind(events, "reader.registered")
    results = forge.push(events)
    assert [r["status"] for r in results] == ["applied"] * len(results), results
    refused(forge, _forged(honest, 54, category="senior"), "category_age")  # a free card
    refused(forge, _forged(honest, 55, category="child"), "category_age")
    refused(forge, _forged(honest, 56, guardian_phone="13700001111"), "guardian_not_needed")
    forge.env.new_card(57)  # the kiosk's next honest registration still applies
    forge.honest()
