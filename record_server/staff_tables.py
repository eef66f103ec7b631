"""The tables of staff authority at kiosks (issue 11.2/11.3, docs/security.md 5.1-5.4), on
``record_server.models.metadata`` (migration 0010 creates them): kept out of ``models.py`` so
that module stays one screenful of the business records; used by ``record_server.kiosk_staff``,
``record_server.ingest.staff_proof`` and ``record_server.auth``.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, String, Table

from record_server.models import metadata

# staff authority at kiosks (record_server.kiosk_staff; docs/security.md 5.1-5.4): a kiosk
# staff session (its MAC key, hex), each kiosk's offline key K_k, the offline verifiers issued
# (the MAC key M of each), and the offline staff actions applied (the day's offline cash)
kiosk_staff_sessions = Table(
    "kiosk_staff_sessions", metadata,
    Column("session_id", String(40), primary_key=True),
    Column("kiosk_id", String(8), nullable=False, index=True),
    Column("staff_no", String(8), nullable=False),
    Column("role", String(16), nullable=False),
    Column("session_key", String(64), nullable=False),
    Column("started_at", String(40), nullable=False),
    Column("expires_at", String(40), nullable=False),
)

kiosk_offline_keys = Table(
    "kiosk_offline_keys", metadata,
    Column("kiosk_id", String(8), primary_key=True),
    Column("offline_key", String(64), nullable=False),
    Column("created_at", String(40), nullable=False),
)

offline_verifiers = Table(
    "offline_verifiers", metadata,
    Column("verifier_id", String(40), primary_key=True),
    Column("kiosk_id", String(8), nullable=False, index=True),
    Column("staff_no", String(8), nullable=False),
    Column("role", String(16), nullable=False),
    Column("mac_key", String(64), nullable=False),
    Column("valid_from", String(40), nullable=False),
    Column("valid_until", String(40), nullable=False),
)

offline_staff_actions = Table(
    "offline_staff_actions", metadata,
    Column("event_id", String(36), primary_key=True),
    Column("kiosk_id", String(8), nullable=False),
    Column("day", String(10), nullable=False),
    Column("staff_no", String(8), nullable=False),
    Column("verifier_id", String(40), nullable=False),
    Column("kind", String(24), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Index("ix_offline_staff_actions_kiosk_day", "kiosk_id", "day"),
)

# staff who must change their kiosk PIN before their next kiosk log-in (docs/security.md 5.6,
# 5.7 step 4): everyone who logged in at a kiosk when it is revoked (record_server.pin_change)
staff_pin_must_change = Table(
    "staff_pin_must_change", metadata,
    Column("staff_no", String(8), primary_key=True),
    Column("kiosk_id", String(8), nullable=False),  # the revoked kiosk that caused it
    Column("since", String(40), nullable=False),
)
