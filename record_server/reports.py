"""Statistics across kiosks and branches for a day or a range of days, as a dict (JSON) or CSV
text. The console's reports and exports (``record_server.console.exports``) use these."""

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
    report = range_report(conn, day, day, now)
    return {"date": day.isoformat(), "generated_at": report["generated_at"],
            "totals": report["totals"], "by_kiosk": report["by_kiosk"],
            "by_branch": report["by_branch"], "on_site_now": report["on_site_now"]}


def range_report(conn: Connection, start: dt.date, end: dt.date,
                 now: dt.datetime) -> dict[str, Any]:
    """Counts and money (fen) for the library-local days ``start``..``end`` (both included):
    in total, per kiosk, per branch and per day (the daily report is the one-day range)."""
    first, last = start.isoformat(), end.isoformat()
    branches = {r.kiosk_id: r.branch for r in conn.execute(select(m.kiosks.c.kiosk_id, m.kiosks.c.branch))}
    total = _blank()
    per_kiosk: defaultdict[str, dict[str, Any]] = defaultdict(_blank)
    per_branch: defaultdict[str, dict[str, Any]] = defaultdict(_blank)
    per_day: defaultdict[str, dict[str, Any]] = defaultdict(_blank)

    def buckets(kiosk_id: str, day: str) -> list[dict[str, Any]]:
        return [total, per_kiosk[kiosk_id], per_branch[branches.get(kiosk_id, "main")],
                per_day[day]]

    rows = conn.execute(
        select(m.events.c.kiosk_id, m.events.c.kind, m.events.c.status, m.events.c.payload,
               m.events.c.occurred_day)
        .where(m.events.c.occurred_day >= first, m.events.c.occurred_day <= last,
               m.events.c.status.in_(COUNTED),
               m.events.c.kind.in_((ev.CARD_ISSUED, ev.CARD_RENEWED, ev.CARD_REPLACED,
                                    ev.CARD_BLOCKED, ev.LOAN_RETURNED, ev.VISIT_OPENED,
                                    ev.FEE_ASSESSED))))
    simple = {ev.CARD_ISSUED: "cards_issued", ev.CARD_REPLACED: "cards_replaced",
              ev.CARD_BLOCKED: "cards_blocked", ev.LOAN_RETURNED: "returns",
              ev.VISIT_OPENED: "visitors"}
    for r in rows:
        for b in buckets(r.kiosk_id, r.occurred_day):
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
                               m.payments.c.amount, m.payments.c.credited,
                               m.payments.c.occurred_day)
                        .where(m.payments.c.occurred_day >= first,
                               m.payments.c.occurred_day <= last))
    paid: defaultdict[int, list[PaymentRecord]] = defaultdict(list)  # by id() of the bucket
    for p in pays:
        for b in buckets(p.kiosk_id, p.occurred_day):
            paid[id(b)].append(PaymentRecord(p.kind, p.method, int(p.amount)))
            if p.kind != "refund":
                b["credited"] += int(p.credited)
    for b in [total, *per_kiosk.values(), *per_branch.values(), *per_day.values()]:
        money = day_metrics(paid[id(b)])  # the kiosk's Z-report counts the same way
        for method, amount in money.taken_by_method.items():
            b["payments"][method] = {"count": money.payments_by_method[method], "amount": amount}
        b["refunds"] = {"count": money.refunds, "amount": money.refunded_total}
    on_site = conn.execute(select(m.visits.c.visit_id, m.visits.c.expires_at)
                           .where(m.visits.c.closed_at.is_(None))).all()
    on_site_now = sum(1 for v in on_site if dt.datetime.fromisoformat(v.expires_at) > now)
    return {
        "from": first,
        "to": last,
        "generated_at": now.isoformat(),
        "totals": _finish(total),
        "by_kiosk": {k: _finish(v) for k, v in sorted(per_kiosk.items())},
        "by_branch": {k: _finish(v) for k, v in sorted(per_branch.items())},
        "by_day": {k: _finish(v) for k, v in sorted(per_day.items())},
        "on_site_now": on_site_now,
    }


METRICS = ("cards_issued", "cards_renewed", "cards_replaced", "cards_blocked", "returns",
           "visitors")


def report_rows(report: dict[str, Any]) -> list[tuple[str, str, str, int | None, int | None]]:
    """The report as a table, one row per (scope, metric, key): (scope, metric, key, count,
    amount in fen); scope is total, kiosk:K01, branch:main or (a range report) day:2026-12-01.
    The CSV of the API and the console's CSV and XLSX exports are these rows."""
    rows: list[tuple[str, str, str, int | None, int | None]] = []
    scopes = [("total", report["totals"])]
    scopes += [(f"kiosk:{k}", v) for k, v in report["by_kiosk"].items()]
    scopes += [(f"branch:{k}", v) for k, v in report["by_branch"].items()]
    scopes += [(f"day:{k}", v) for k, v in report.get("by_day", {}).items()]
    for scope, data in scopes:
        for metric in METRICS:
            rows.append((scope, metric, "", data[metric], None))
        for kind, v in data["fees_assessed"].items():
            rows.append((scope, "fees_assessed", kind, v["count"], v["amount"]))
        for method, v in data["payments"].items():
            rows.append((scope, "payments", method, v["count"], v["amount"]))
        rows.append((scope, "refunds", "", data["refunds"]["count"], data["refunds"]["amount"]))
        rows.append((scope, "credited", "", None, data["credited"]))
    rows.append(("total", "on_site_now", "", report["on_site_now"], None))
    return rows


def report_csv(report: dict[str, Any]) -> str:
    """One row per (scope, metric, key): scope is total, kiosk:K01 or branch:main."""
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow(["date", "scope", "metric", "key", "count", "amount_fen"])
    for scope, metric, key, count, amount in report_rows(report):
        out.writerow([report["date"], scope, metric, key, "" if count is None else count,
                      "" if amount is None else amount])
    return buf.getvalue()


RANGE_HEADER = ("from", "to", "scope", "metric", "key", "count", "amount_fen")


def range_table(report: dict[str, Any]) -> list[list[Any]]:
    """A range report as rows under ``RANGE_HEADER`` (None where a cell is empty)."""
    return [[report["from"], report["to"], *row] for row in report_rows(report)]


def range_csv(report: dict[str, Any]) -> str:
    """A range report as CSV text: ``RANGE_HEADER``, then ``range_table``."""
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow(RANGE_HEADER)
    out.writerows([["" if v is None else v for v in row] for row in range_table(report)])
    return buf.getvalue()
