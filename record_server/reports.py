"""Daily statistics across kiosks and branches, as a dict (JSON) or CSV text."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections import defaultdict
from typing import Any

from sqlalchemy import Connection, select

from library_core import events as ev
from library_core.rules import PaymentRecord, day_metrics
from record_server import models as m

COUNTED = ("applied", "conflict")


def _blank() -> dict[str, Any]:
    return {
        "cards_issued": 0, "cards_renewed": 0, "cards_replaced": 0, "cards_blocked": 0,
        "returns": 0, "visitors": 0,
        "fees_assessed": defaultdict(lambda: {"count": 0, "amount": 0}),
        "payments": defaultdict(lambda: {"count": 0, "amount": 0}),
        "refunds": {"count": 0, "amount": 0},
        "credited": 0,
    }


def _finish(bucket: dict[str, Any]) -> dict[str, Any]:
    out = dict(bucket)
    out["fees_assessed"] = {k: dict(v) for k, v in sorted(bucket["fees_assessed"].items())}
    out["payments"] = {k: dict(v) for k, v in sorted(bucket["payments"].items())}
    out["payments_total"] = sum(v["amount"] for v in bucket["payments"].values())
    return out


def daily_report(conn: Connection, day: dt.date, now: dt.datetime) -> dict[str, Any]:
    """Counts and money (fen) for one library-local day, in total, per kiosk and per branch."""
    key = day.isoformat()
    branches = {r.kiosk_id: r.branch for r in conn.execute(select(m.kiosks.c.kiosk_id, m.kiosks.c.branch))}
    total = _blank()
    per_kiosk: defaultdict[str, dict[str, Any]] = defaultdict(_blank)
    per_branch: defaultdict[str, dict[str, Any]] = defaultdict(_blank)

    def buckets(kiosk_id: str) -> list[dict[str, Any]]:
        return [total, per_kiosk[kiosk_id], per_branch[branches.get(kiosk_id, "main")]]

    rows = conn.execute(
        select(m.events.c.kiosk_id, m.events.c.kind, m.events.c.status, m.events.c.payload)
        .where(m.events.c.occurred_day == key, m.events.c.status.in_(COUNTED),
               m.events.c.kind.in_((ev.CARD_ISSUED, ev.CARD_RENEWED, ev.CARD_REPLACED,
                                    ev.CARD_BLOCKED, ev.LOAN_RETURNED, ev.VISIT_OPENED,
                                    ev.FEE_ASSESSED))))
    simple = {ev.CARD_ISSUED: "cards_issued", ev.CARD_REPLACED: "cards_replaced",
              ev.CARD_BLOCKED: "cards_blocked", ev.LOAN_RETURNED: "returns",
              ev.VISIT_OPENED: "visitors"}
    for r in rows:
        for b in buckets(r.kiosk_id):
            if r.kind in simple:
                b[simple[r.kind]] += 1
            elif r.kind == ev.CARD_RENEWED and r.status == "applied":
                b["cards_renewed"] += 1
            elif r.kind == ev.FEE_ASSESSED:
                payload = json.loads(r.payload)
                fee = b["fees_assessed"][payload["kind"]]
                fee["count"] += 1
                fee["amount"] += int(payload["amount"])
    pays = conn.execute(select(m.payments.c.kiosk_id, m.payments.c.kind, m.payments.c.method,
                               m.payments.c.amount, m.payments.c.credited)
                        .where(m.payments.c.occurred_day == key))
    paid: defaultdict[int, list[PaymentRecord]] = defaultdict(list)  # by id() of the bucket
    for p in pays:
        for b in buckets(p.kiosk_id):
            paid[id(b)].append(PaymentRecord(p.kind, p.method, int(p.amount)))
            if p.kind != "refund":
                b["credited"] += int(p.credited)
    for b in [total, *per_kiosk.values(), *per_branch.values()]:
        money = day_metrics(paid[id(b)])  # the kiosk's Z-report counts the same way
        for method, amount in money.taken_by_method.items():
            b["payments"][method] = {"count": money.payments_by_method[method], "amount": amount}
        b["refunds"] = {"count": money.refunds, "amount": money.refunded_total}
    on_site = conn.execute(select(m.visits.c.visit_id, m.visits.c.expires_at)
                           .where(m.visits.c.closed_at.is_(None))).all()
    on_site_now = sum(1 for v in on_site if dt.datetime.fromisoformat(v.expires_at) > now)
    return {
        "date": key,
        "generated_at": now.isoformat(),
        "totals": _finish(total),
        "by_kiosk": {k: _finish(v) for k, v in sorted(per_kiosk.items())},
        "by_branch": {k: _finish(v) for k, v in sorted(per_branch.items())},
        "on_site_now": on_site_now,
    }


def report_csv(report: dict[str, Any]) -> str:
    """One row per (scope, metric, key): scope is total, kiosk:K01 or branch:main."""
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow(["date", "scope", "metric", "key", "count", "amount_fen"])
    scopes = [("total", report["totals"])]
    scopes += [(f"kiosk:{k}", v) for k, v in report["by_kiosk"].items()]
    scopes += [(f"branch:{k}", v) for k, v in report["by_branch"].items()]
    for scope, data in scopes:
        for metric in ("cards_issued", "cards_renewed", "cards_replaced", "cards_blocked",
                       "returns", "visitors"):
            out.writerow([report["date"], scope, metric, "", data[metric], ""])
        for kind, v in data["fees_assessed"].items():
            out.writerow([report["date"], scope, "fees_assessed", kind, v["count"], v["amount"]])
        for method, v in data["payments"].items():
            out.writerow([report["date"], scope, "payments", method, v["count"], v["amount"]])
        out.writerow([report["date"], scope, "refunds", "", data["refunds"]["count"],
                      data["refunds"]["amount"]])
        out.writerow([report["date"], scope, "credited", "", "", data["credited"]])
    out.writerow([report["date"], "total", "on_site_now", "", report["on_site_now"], ""])
    return buf.getvalue()
