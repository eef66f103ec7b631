"""Cards at the desk: look one up, block one."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, select, update

from library_core.rules import blocked_status
from record_server import changes
from record_server import models as m
from record_server.crud.errors import NotFound


def get_card(conn: Connection, *, card_no: str) -> dict[str, Any]:
    """The card row. Raises NotFound."""
    row = conn.execute(select(m.cards).where(m.cards.c.card_no == card_no)).first()
    if row is None:
        raise NotFound("no such card")
    return dict(row._mapping)


def block_card(conn: Connection, *, card_no: str, reason: str, note: str,
               staff_no: str, now: str) -> dict[str, Any]:
    """Block an active card (or cancel a lost one), log the desk action, publish the change.

    Returns the card row as it is afterwards; a card already blocked keeps its status (the
    action is still logged). Raises NotFound.
    """
    row = conn.execute(select(m.cards).where(m.cards.c.card_no == card_no)).first()
    if row is None:
        raise NotFound("no such card")
    status = blocked_status(row.status, reason)  # the kiosk's rule (library_core.rules)
    if status is not None:
        conn.execute(update(m.cards).where(m.cards.c.card_no == card_no).values(status=status))
    conn.execute(m.desk_actions.insert().values(
        staff_no=staff_no, action=f"card.block.{reason}", target=card_no,
        detail=json.dumps({"note": note}, ensure_ascii=True), at=now))
    changes.publish(conn, {"card": {card_no}})
    return dict(conn.execute(select(m.cards).where(m.cards.c.card_no == card_no)).one()._mapping)
