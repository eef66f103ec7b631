"""The dashboard's one-day report, counted by the database: the same dict as
``reports.range_report(conn, day, day, now)`` (the JSON report API's), from grouped rows.

``range_report`` fetches every event and payment of its range and counts them in Python: right
for a month's report, but the dashboard is asked for often, and a busy day of 20 kiosks is
thousands of rows each time. Here the database groups today's rows by kiosk, kind and status
(events; ``ix_events_day_kind``) and by kiosk, kind and method (payments; their day index),
and only the fee assessments' payloads are read (their kind and amount are in the JSON). The
money goes through the same rule (``rules.day_metrics``) and the buckets are filled by the
same ones (``reports._blank`` / ``reports._finish``), so the figures cannot drift apart:
tests/server/test_dashboard_today.py checks both agree on the same data.

Visitors on site now: open visits not yet expired. Only those that can still be open are
read: a visit's ``expires_at`` is ISO text with its offset, and no offset is 2 days wide, so
text at or after "now less two days" is a bound that loses none (the exact test is in Python,
as the report makes it); ``ix_visits_open_expires`` covers it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from typing import Any

from sqlalchemy import Connection, func, select

from library_core import events as ev
from library_core.rules import PaymentRecord, day_metrics
from record_server import models as m
from record_server.reports import COUNTED, _blank, _finish

SIMPLE = {ev.CARD_ISSUED: "cards_issued", ev.CARD_REPLACED: "cards_replaced",
          ev.CARD_BLOCKED: "cards_blocked", ev.LOAN_RETURNED: "returns",
          ev.VISIT_OPENED: "visitors"}
KINDS = (*SIMPLE, ev.CARD_RENEWED, ev.FEE_ASSESSED)
OPEN_VISIT_MARGIN = dt.timedelta(days=2)


def on_site_now(conn: Connection, now: dt.datetime) -> int:
    v = m.visits.c
    bound = (now - OPEN_VISIT_MARGIN).isoformat()
    rows = conn.execute(select(v.expires_at).where(v.closed_at.is_(None),
                                                    v.expires_at >= bound)).scalars()
    return sum(1 for expires in rows if dt.datetime.fromisoformat(expires) > now)


def one_day(conn: Connection, day: dt.date, now: dt.datetime) -> dict[str, Any]:
    """``reports.range_report(conn, day, day, now)``, grouped by the database."""
    when = day.isoformat()
    e, p = m.events.c, m.payments.c
    branches = {r.kiosk_id: r.branch for r in conn.execute(select(m.kiosks.c.kiosk_id,
                                                                  m.kiosks.c.branch))}
    total = _blank()
    per_kiosk: defaultdict[str, dict[str, Any]] = defaultdict(_blank)
    per_branch: defaultdict[str, dict[str, Any]] = defaultdict(_blank)
    per_day: defaultdict[str, dict[str, Any]] = defaultdict(_blank)

    def buckets(kiosk_id: str) -> list[dict[str, Any]]:
        return [total, per_kiosk[kiosk_id], per_branch[branches.get(kiosk_id, "main")],
                per_day[when]]

    today = (e.occurred_day == when, e.status.in_(COUNTED))
    for r in conn.execute(select(e.kiosk_id, e.kind, e.status, func.count())
                          .where(*today, e.kind.in_(KINDS))
                          .group_by(e.kiosk_id, e.kind, e.status)):
        n = int(r[3])
        for b in buckets(r.kiosk_id):
            if r.kind in SIMPLE:
                b[SIMPLE[r.kind]] += n
            elif r.kind == ev.CARD_RENEWED and r.status == "applied":
                b["cards_renewed"] += n
    for r in conn.execute(select(e.kiosk_id, e.payload).where(*today,
                                                               e.kind == ev.FEE_ASSESSED)):
        payload = json.loads(r.payload)
        for b in buckets(r.kiosk_id):
            fee = b["fees_assessed"][payload["kind"]]
            fee["count"] += 1
            fee["amount"] += int(payload["amount"])
    paid: defaultdict[int, list[PaymentRecord]] = defaultdict(list)  # by id() of the bucket
    for r in conn.execute(select(p.kiosk_id, p.kind, p.method, func.count(),
                                 func.sum(p.amount), func.sum(p.credited))
                          .where(p.occurred_day == when)
                          .group_by(p.kiosk_id, p.kind, p.method)):
        n, amount, credited = int(r[3]), int(r[4]), int(r[5])
        # the group as day_metrics counts it: n records whose amounts sum to the group's
        records = [PaymentRecord(r.kind, r.method, amount)]
        records += [PaymentRecord(r.kind, r.method, 0)] * (n - 1)
        for b in buckets(r.kiosk_id):
            paid[id(b)].extend(records)
            if r.kind != "refund":
                b["credited"] += credited
    for b in [total, *per_kiosk.values(), *per_branch.values(), *per_day.values()]:
        money = day_metrics(paid[id(b)])
        for method, taken in money.taken_by_method.items():
            b["payments"][method] = {"count": money.payments_by_method[method], "amount": taken}
        b["refunds"] = {"count": money.refunds, "amount": money.refunded_total}
    return {
        "from": when, "to": when, "generated_at": now.isoformat(), "totals": _finish(total),
        "by_kiosk": {k: _finish(v) for k, v in sorted(per_kiosk.items())},
        "by_branch": {k: _finish(v) for k, v in sorted(per_branch.items())},
        "by_day": {k: _finish(v) for k, v in sorted(per_day.items())},
        "on_site_now": on_site_now(conn, now),
    }
