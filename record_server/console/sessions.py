"""Console sessions in the database (every server worker sees them): a random cookie token
kept as its SHA-256, a CSRF token for the session's forms, an idle end and a hard end.

A session ends when it has been idle ``idle_seconds`` (``ServerConfig.console_idle_seconds``),
at ``expires_at``, at log-out, when its member is deactivated, and when a new password code is
issued for the member (``passwords.issue_code``).
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from sqlalchemy import Connection, delete, select, update

from record_server import models as m
from record_server.auth import token_hash
from record_server.db import Database

COOKIE = "console_session"


@dataclass(frozen=True)
class ConsoleUser:
    """The member behind a live console session."""

    staff_no: str
    name: str
    role: str
    csrf_token: str


def open_session(conn: Connection, staff_no: str, now: dt.datetime, *,
                 hours: int) -> str:
    """Start a session; returns the cookie's token (only its hash is stored)."""
    token = secrets.token_urlsafe(32)
    conn.execute(m.console_sessions.insert().values(
        token_hash=token_hash(token), staff_no=staff_no, csrf_token=secrets.token_urlsafe(32),
        created_at=now.isoformat(), last_seen_at=now.isoformat(),
        expires_at=(now + dt.timedelta(hours=hours)).isoformat()))
    return token


_LOOKUP = (select(m.console_sessions.c.token_hash, m.console_sessions.c.csrf_token,
                  m.console_sessions.c.last_seen_at, m.console_sessions.c.expires_at,
                  m.staff.c.staff_no, m.staff.c.name, m.staff.c.role, m.staff.c.active)
           .join(m.staff, m.staff.c.staff_no == m.console_sessions.c.staff_no))


def session_user(db: Database, token: str, now: dt.datetime, *,
                 idle_seconds: int) -> ConsoleUser | None:
    """The member of a live session, and the session's idle clock restarted; None (and the
    session deleted) when it is unknown, idle too long, past its end or its member inactive."""
    hashed = token_hash(token)
    with db.write() as conn:
        row = conn.execute(_LOOKUP.where(m.console_sessions.c.token_hash == hashed)).first()
        if row is None:
            return None
        idle = now - dt.datetime.fromisoformat(row.last_seen_at)
        if (not row.active or idle > dt.timedelta(seconds=idle_seconds)
                or dt.datetime.fromisoformat(row.expires_at) < now):
            conn.execute(delete(m.console_sessions)
                         .where(m.console_sessions.c.token_hash == hashed))
            return None
        conn.execute(update(m.console_sessions).where(
            m.console_sessions.c.token_hash == hashed).values(last_seen_at=now.isoformat()))
    return ConsoleUser(row.staff_no, row.name, row.role, row.csrf_token)


def end_session(db: Database, token: str) -> None:
    with db.write() as conn:
        conn.execute(delete(m.console_sessions)
                     .where(m.console_sessions.c.token_hash == token_hash(token)))


def end_sessions_of(conn: Connection, staff_no: str) -> None:
    conn.execute(delete(m.console_sessions).where(m.console_sessions.c.staff_no == staff_no))
