"""Reader grants: the server's own proof that a reader stood at a kiosk and gave their ID
number and PIN.

A kiosk token alone must not be enough to report a reader's card lost or to replace it (issue 11,
"a thief with a kiosk token"). When the server's reader-PIN check (``crud/readers.py``) answers
``ok`` it also hands the kiosk a grant: a random token, kept here only as its SHA-256, bound to
that kiosk and that reader, valid ``GRANT_MINUTES``. A lost-card block that names no staff, and
every replacement, must carry a grant that this kiosk received for this reader, and the event
must have happened while the grant was valid (``grant_refusal``, used by ``ingest/cards.py``).
Staff blocks are proven by the staff member's own proof instead.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import Connection, delete, insert, select

from record_server import models as m

GRANT_PREFIX = "rg_"
GRANT_MINUTES = 15  # verify → block → pay → write → push takes a minute or two online
_DRIFT = dt.timedelta(minutes=2)  # the kiosk's clock against the server's


def _hash(grant: str) -> str:
    return hashlib.sha256(grant.encode()).hexdigest()


def issue_grant(conn: Connection, *, kiosk_id: str, reader_id: str, now: dt.datetime) -> str:
    """A new grant for ``reader_id`` at ``kiosk_id``; grants past their time are dropped."""
    grant = GRANT_PREFIX + secrets.token_urlsafe(24)
    now = now.astimezone(dt.UTC)
    conn.execute(delete(m.reader_grants).where(
        m.reader_grants.c.expires_at < (now - dt.timedelta(days=1)).isoformat()))
    conn.execute(insert(m.reader_grants).values(
        grant_hash=_hash(grant), kiosk_id=kiosk_id, reader_id=reader_id,
        issued_at=now.isoformat(),
        expires_at=(now + dt.timedelta(minutes=GRANT_MINUTES)).isoformat()))
    return grant


def grant_refusal(conn: Connection, grant: str | None, *, kiosk_id: str, reader_ids: set[str],
                  occurred_at: dt.datetime) -> str | None:
    """None when ``grant`` was given to ``kiosk_id`` for one of ``reader_ids`` (the reader and
    whoever it was merged into) and ``occurred_at`` lies within its time; else the reason:
    ``reader_grant_missing``, ``reader_grant_unknown`` (never issued, or for another kiosk or
    reader: the same answer), ``reader_grant_expired``."""
    if not grant:
        return "reader_grant_missing"
    row = conn.execute(select(m.reader_grants).where(
        m.reader_grants.c.grant_hash == _hash(grant))).first()
    if row is None or row.kiosk_id != kiosk_id or row.reader_id not in reader_ids:
        return "reader_grant_unknown"
    issued = dt.datetime.fromisoformat(row.issued_at)
    expires = dt.datetime.fromisoformat(row.expires_at)
    if not issued - _DRIFT <= occurred_at.astimezone(dt.UTC) <= expires + _DRIFT:
        return "reader_grant_expired"
    return None
