"""Items in the catalogue: create or update one from the desk."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select, update

from record_server import changes
from record_server import models as m


def upsert_item(conn: Connection, *, barcode: str, title: str, author: str, call_no: str,
                hold: bool) -> dict[str, Any]:
    """Insert the item (status ``available``) or update its catalogue fields; publish it."""
    row = conn.execute(select(m.items.c.status).where(m.items.c.barcode == barcode)).first()
    values = {"title": title, "author": author, "call_no": call_no, "hold": hold}
    if row is None:
        conn.execute(m.items.insert().values(barcode=barcode, status="available", **values))
    else:
        conn.execute(update(m.items).where(m.items.c.barcode == barcode).values(**values))
    changes.publish(conn, {"item": {barcode}})
    return {"barcode": barcode, **values}
