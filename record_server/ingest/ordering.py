"""Sequencing one batch: duplicates, seq gaps and reuse, priority events ahead of order."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError as PydanticError
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from library_core import contract as c
from library_core import events as ev
from library_core.fees import FeeSchedule
from record_server.fee_schedules import on_event_day
from record_server.ingest import legacy_order, numbering, prepared, rowcache
from record_server.ingest.context import Context, Outcome, Reject, local_day
from record_server.ingest.handlers import HANDLERS
from record_server.ingest.retry import is_transient, savepoint


def _validation_reason(err: PydanticError) -> str:
    first = err.errors()[0]
    where = ".".join(str(x) for x in first.get("loc", ())) or "payload"
    return f"invalid_payload: {where}: {first.get('msg', 'invalid')}"[:300]


class Redo(Exception):
    """An event failed while the batch ran without per-event savepoints: run it again with."""


# the keys each kind's payload names as new: their absence is learnt for the whole batch at once
_NEW_KEYS: dict[str, tuple[tuple[str, str, str], ...]] = {
    ev.READER_REGISTERED: (("readers", "reader_id", "reader_id"),
                           ("readers", "id_number", "id_number")),  # no live holder yet
    ev.CARD_ISSUED: (("cards", "card_no", "card_no"),),
    ev.CARD_REPLACED: (("cards", "card_no", "card_no"),),
    ev.FEE_ASSESSED: (("fees", "fee_id", "fee_id"),),
    ev.PAYMENT_RECORDED: (("payments", "payment_id", "payment_id"),
                          ("payments", "receipt_no", "receipt_no")),
    ev.DEPOSIT_REFUNDED: (("payments", "payment_id", "payment_id"),
                          ("payments", "receipt_no", "receipt_no")),
    ev.VISIT_OPENED: (("visits", "visit_id", "visit_id"),),
}


def _new_keys(envelopes: list[c.EventEnvelope]) -> dict[tuple[str, str], set[str]]:
    wanted: dict[tuple[str, str], set[str]] = {}
    for env in envelopes:
        for table, key, field in _NEW_KEYS.get(env.kind, ()):
            value = env.payload.get(field)
            if isinstance(value, str):
                wanted.setdefault((table, key), set()).add(value)
    return wanted


def apply_batch(conn: Connection, *, kiosk_id: str, envelopes: list[c.EventEnvelope],
                now: str, schedule: FeeSchedule, next_seq: int, seen: dict[str, Any],
                present: set[int], guarded: bool, ready: prepared.Prepared | None = None,
                ) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]],
                           dict[str, set[str]], int]:
    """``_apply`` with the batch's row cache (``rowcache``): the absence of the keys its events
    create learnt in one query per table; unguarded, its inserts and the numbers it used
    written together at the end (a failure there is a ``Redo`` too)."""
    with rowcache.active(conn) as cache:
        cache.prefetch(_new_keys([e for e in envelopes if str(e.event_id) not in seen]))
        if not guarded:
            cache.numbers, cache.defer = {}, True
        out = _apply(conn, kiosk_id=kiosk_id, envelopes=envelopes, now=now, schedule=schedule,
                     next_seq=next_seq, seen=seen, present=present, guarded=guarded,
                     ready=ready)
        try:
            cache.flush()
            if cache.numbers:
                numbering.write_used(conn, cache.numbers)
        except DBAPIError as err:  # a waiting insert refused (e.g. a key taken meanwhile)
            if is_transient(err):
                raise
            raise Redo("batch end") from err
    return out


def _apply(conn: Connection, *, kiosk_id: str, envelopes: list[c.EventEnvelope],
           now: str, schedule: FeeSchedule, next_seq: int, seen: dict[str, Any],
           present: set[int], guarded: bool, ready: prepared.Prepared | None = None,
           ) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]],
                      dict[str, set[str]], int]:
    """Run the batch's events; returns (results by event id, event rows, touched, next seq).

    ``guarded``: a savepoint around each event, so a refused one leaves no trace. Unguarded, the
    first handler that raises stops the batch with ``Redo`` (the caller rolls back and reruns
    it guarded): most batches have no refusal and save two statements per event. ``ready``:
    the payloads checked before the write lock (``ingest.prepared``).
    """
    by_id: dict[str, dict[str, Any]] = {}
    touched: dict[str, set[str]] = {}
    rows: list[dict[str, Any]] = []
    order = sorted(envelopes, key=lambda e: (-e.priority if e.kind in ev.PRIORITY_KINDS
                                             else 0, e.seq))
    # an older kiosk's card events before their fees: run after them (ingest.legacy_order)
    order, held = legacy_order.reorder(
        order, kiosk_id, lambda e: (str(e.event_id) not in seen and e.seq >= next_seq
                                    and e.seq not in present))
    held_seqs = {e.seq for e in order if str(e.event_id) in held}
    deferred: list[c.EventEnvelope] = []
    queue = [(False, e) for e in order]
    position = 0
    while True:
        if position >= len(queue):
            if not deferred:
                break
            queue += [(True, d) for d in deferred]  # a second chance, after the rest
            deferred = []
        final, env = queue[position]
        position += 1
        eid = str(env.event_id)
        if eid in by_id:
            continue
        if eid in seen:
            prior = seen[eid]
            if prior.kiosk_id != kiosk_id:
                by_id[eid] = {"event_id": eid, "status": "rejected",
                              "detail": "event_id_taken"}
            else:
                by_id[eid] = {"event_id": eid, "status": "duplicate",
                              "detail": f"already {prior.status}"}
            continue
        early_priority = env.kind in ev.PRIORITY_KINDS and env.priority == 1
        if env.seq < next_seq or env.seq in present:
            by_id[eid] = {"event_id": eid, "status": "rejected", "detail": "seq_reused"}
            continue
        # ahead of order: not next, and not only after held card events (ingest.legacy_order)
        ahead = env.seq > next_seq and not (held_seqs and legacy_order.waits_only_for_held(
            next_seq, env.seq, held_seqs, present))
        if ahead and not early_priority:
            by_id[eid] = {"event_id": eid, "status": "rejected",
                          "detail": f"gap: expected seq {next_seq}"}
            continue
        ctx = Context(conn, kiosk_id, eid, env.occurred_at, now,
                      on_event_day(conn, schedule, env.occurred_at),  # the day's schedule
                      touched, envelope=env)
        if eid in held:
            held_seqs.discard(env.seq)
            ctx.legacy_fees = legacy_order.legacy_fees(held[eid], by_id)
        prep = prepared.get(ready, env)
        try:
            payload = prep.payload()  # raises the payload's ValidationError
            if guarded:
                with savepoint(conn):
                    HANDLERS[env.kind](ctx, payload)
            else:
                try:
                    HANDLERS[env.kind](ctx, payload)
                except Exception as err:
                    if is_transient(err):
                        raise  # the whole transaction is retried (push)
                    raise Redo(eid) from err
        except PydanticError as err:
            ctx.outcome = Outcome("rejected", None, _validation_reason(err))
        except Reject as rej:
            ctx.outcome = Outcome("rejected", None, rej.reason)
        out = ctx.outcome
        if out.status == "rejected" and eid not in held and legacy_order.resend_later(
                conn, kiosk_id, env, out.detail, order):  # (a held one had its fees here)
            by_id[eid] = {"event_id": eid, "status": "rejected",
                          "detail": f"gap: {out.detail}; resend with the events after it"}
            continue
        if ahead and out.status == "rejected":
            # a block ahead of order that needs earlier events: try again after the rest
            # of the batch; if still too early, the kiosk resends it later
            if not final:
                deferred.append(env)
                continue
            by_id[eid] = {"event_id": eid, "status": "rejected",
                          "detail": f"gap: {out.detail}; resend in order"}
            continue
        rows.append({
            "event_id": eid, "kiosk_id": kiosk_id, "seq": env.seq, "kind": env.kind,
            "occurred_at": prep.occurred_at, "occurred_day": local_day(env.occurred_at),
            "received_at": now, "status": out.status, "rule": out.rule,
            "detail": (out.detail or "")[:300] or None,
            "payload": prep.payload_json})
        present.add(env.seq)
        while next_seq in present:
            next_seq += 1
        result = {"event_id": eid, "status": out.status}
        if out.detail:
            result["detail"] = out.detail
        if out.rule:
            result["rule"] = out.rule
        by_id[eid] = result
    return by_id, rows, touched, next_seq


