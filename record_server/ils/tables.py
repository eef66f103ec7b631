"""``ils_exceptions`` on ``record_server.models.metadata`` (migration 0015 creates it, and adds
the ILS link columns of ``kiosk_status``)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, String, Table

from record_server.models import metadata

# one transaction a kiosk queued for the ILS while it was down and the ILS refused when it was
# forwarded (an ``ils.refused`` event); ``ref`` is unique per kiosk queue entry. Resolved through
# ``review_resolutions`` (item_kind ``ils``, item_id the event id), like the review queue's items.
ils_exceptions = Table(
    "ils_exceptions", metadata,
    Column("event_id", String(36), primary_key=True),
    Column("ref", String(160), nullable=False, unique=True),
    Column("kiosk_id", String(8), nullable=False),
    Column("queue_kind", String(16), nullable=False),
    Column("key", String(64), nullable=False),
    Column("answer", String(500), nullable=False),
    Column("amount", BigInteger),
    Column("queued_at", String(40), nullable=False),
    Column("refused_at", String(40), nullable=False),
    Column("received_at", String(40), nullable=False),
    Index("ix_ils_exceptions_refused", "refused_at"),
)
