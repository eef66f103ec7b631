"""*PIN must change* after a kiosk is revoked (docs/security.md 5.6, 5.7 step 4).

A revoked kiosk may have been stolen while running: its memory held the offline key ``K_k``,
and with it and the disk the PIN of everyone whose verifier it holds falls to a brute force in
seconds (5.6). So ``auth.revoke_kiosk_on`` marks, in the revocation's transaction, every
member of staff who ever logged in there (a kiosk staff session or an offline verifier of that
kiosk). Their old PIN then opens no kiosk log-in anywhere: ``kiosk_staff.open_session`` answers
``pin_must_change`` (after the PIN check, so the answer tells nothing to a guesser), and every
offline verifier they hold at any kiosk ends now, so an offline log-in with the old PIN signs
nothing the server takes (``staff_session_expired``). A supervisor's PIN reset (console,
``staff_data.reset_pin``) gives a new PIN and clears the mark.
"""

from __future__ import annotations

import logging

from sqlalchemy import Connection, delete, func, insert, select, union, update

from record_server import staff_tables as st

log = logging.getLogger(__name__)

MUST_CHANGE = "pin_must_change"


def mark_kiosk(conn: Connection, kiosk_id: str, when: str) -> list[str]:
    """Mark everyone who logged in at ``kiosk_id``; returns their staff numbers (sorted)."""
    who = union(
        select(st.kiosk_staff_sessions.c.staff_no).where(
            st.kiosk_staff_sessions.c.kiosk_id == kiosk_id),
        select(st.offline_verifiers.c.staff_no).where(
            st.offline_verifiers.c.kiosk_id == kiosk_id))
    staff = sorted(str(s) for s in conn.execute(who).scalars())
    if not staff:
        return []
    marked = set(conn.execute(select(st.staff_pin_must_change.c.staff_no).where(
        st.staff_pin_must_change.c.staff_no.in_(staff))).scalars())
    new = [s for s in staff if s not in marked]
    if new:
        conn.execute(insert(st.staff_pin_must_change),
                     [{"staff_no": s, "kiosk_id": kiosk_id, "since": when} for s in new])
    v = st.offline_verifiers.c  # their old PIN's verifiers, at every kiosk, end now
    conn.execute(update(st.offline_verifiers)
                 .where(v.staff_no.in_(staff), v.valid_until > when)
                 .values(valid_until=when))
    log.warning("kiosk %s revoked: %d staff must change their PIN (%s)", kiosk_id,
                len(staff), ", ".join(staff))
    return staff


def required(conn: Connection, staff_no: str) -> bool:
    """Whether ``staff_no`` must change their PIN before a kiosk log-in."""
    return bool(conn.execute(select(func.count()).select_from(st.staff_pin_must_change)
                             .where(st.staff_pin_must_change.c.staff_no == staff_no))
                .scalar_one())


def clear(conn: Connection, staff_no: str) -> None:
    """The member has a new PIN (a supervisor's reset): the mark goes."""
    conn.execute(delete(st.staff_pin_must_change)
                 .where(st.staff_pin_must_change.c.staff_no == staff_no))
