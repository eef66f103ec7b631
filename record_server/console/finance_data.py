"""The finance pages' data: the payments ledger, totals per day and method (the one report
implementation), each kiosk's end-of-day report set against the server's own sums, and the
refunds and waivers with who and why.

The server's side of an end-of-day check counts with ``library_core.rules.day_metrics``, the
same function the kiosk's Z-report uses, over the payments the server holds for that kiosk
and day.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from library_core import events as ev
from library_core.rules import PaymentRecord, day_metrics
from record_server import models as m
from record_server import reports

LEDGER_LIMIT = 1000
LEDGER_HEADER = ("occurred_at", "receipt_no", "kind", "method", "amount_fen", "credited_fen",
                 "kiosk_id", "staff_no", "reader_id", "provider_txn_id")
# where a payment event may carry the provider's transaction id (issue 13 adds it)
PROVIDER_KEYS = ("provider_txn_id", "provider_transaction_id", "transaction_id")


def ledger(conn: Connection, *, start: dt.date, end: dt.date, method: str = "",
           kiosk_id: str = "", limit: int = LEDGER_LIMIT) -> list[dict[str, Any]]:
    """Payments and refunds of the days ``start``..``end``, newest first."""
    p = m.payments.c
    q = select(m.payments).where(p.occurred_day >= start.isoformat(),
                                 p.occurred_day <= end.isoformat())
    if method:
        q = q.where(p.method == method)
    if kiosk_id:
        q = q.where(p.kiosk_id == kiosk_id)
    rows = [dict(r._mapping) for r in conn.execute(
        q.order_by(p.occurred_at.desc(), p.receipt_no.desc()).limit(limit))]
    providers = _provider_ids(conn, [r["payment_id"] for r in rows], start, end)
    for r in rows:  # the column of issue 13's payments, else what the event carried
        r["provider_txn_id"] = r.get("transaction_id") or providers.get(r["payment_id"], "")
    return rows


def _provider_ids(conn: Connection, payment_ids: list[str], start: dt.date,
                  end: dt.date) -> dict[str, str]:
    if not payment_ids:
        return {}
    wanted = set(payment_ids)
    e = m.events.c
    found: dict[str, str] = {}
    for r in conn.execute(select(e.payload).where(
            e.kind == ev.PAYMENT_RECORDED, e.occurred_day >= start.isoformat(),
            e.occurred_day <= end.isoformat())):
        payload = json.loads(r.payload)
        if payload.get("payment_id") in wanted:
            for key in PROVIDER_KEYS:
                if payload.get(key):
                    found[payload["payment_id"]] = str(payload[key])
                    break
    return found


def ledger_table(rows: list[dict[str, Any]]) -> list[list[Any]]:
    return [[r["occurred_at"], r["receipt_no"], r["kind"], r["method"], int(r["amount"]),
             int(r["credited"]), r["kiosk_id"], r["staff_no"] or "", r["reader_id"] or "",
             r["provider_txn_id"]] for r in rows]


def totals_by_day(report: dict[str, Any]) -> list[dict[str, Any]]:
    """From a range report: per day, the amount and count per method, refunds, the total."""
    return [{"day": day, "payments": fig["payments"], "refunds": fig["refunds"],
             "total": fig["payments_total"]} for day, fig in report["by_day"].items()]


def methods_of(report: dict[str, Any]) -> list[str]:
    return sorted(report["totals"]["payments"])


# -- end-of-day reports against the server's sums ---------------------------------------------

COMPARED = ("cards_issued", "cards_renewed", "cards_replaced", "returns", "visitors")


@dataclass(frozen=True)
class Line:
    key: str  # what is compared: a count name, taken:<method>, refunded:<method>, cash_expected
    kiosk: int | None
    server: int

    @property
    def differs(self) -> bool:
        return self.kiosk != self.server


@dataclass(frozen=True)
class DayCheck:
    day: str
    kiosk_id: str
    staff_no: str
    closed_at: str
    lines: list[Line]
    cash_expected: int | None
    cash_counted: int | None  # when the kiosk's report carries a count of the drawer
    server_cash_expected: int

    @property
    def differences(self) -> int:
        return sum(1 for line in self.lines if line.differs) + int(
            self.cash_counted is not None and self.cash_counted != self.server_cash_expected)


def day_checks(conn: Connection, *, start: dt.date, end: dt.date,
               now: dt.datetime) -> list[DayCheck]:
    """Every ``day.closed`` of the days ``start``..``end``, each line kiosk vs server."""
    e = m.events.c
    closes = conn.execute(select(e.kiosk_id, e.occurred_at, e.payload).where(
        e.kind == ev.DAY_CLOSED, e.status == "applied", e.occurred_day >= start.isoformat(),
        e.occurred_day <= end.isoformat()).order_by(e.occurred_at.desc())).all()
    checks = []
    for c in closes:
        payload = json.loads(c.payload)
        report = payload.get("report") or {}
        day = str(report.get("day") or c.occurred_at[:10])
        checks.append(_check(conn, kiosk_id=c.kiosk_id, day=day, report=report,
                             staff_no=str(payload.get("staff_no", "")), closed_at=c.occurred_at,
                             now=now))
    return checks


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


def _check(conn: Connection, *, kiosk_id: str, day: str, report: dict[str, Any], staff_no: str,
           closed_at: str, now: dt.datetime) -> DayCheck:
    date = dt.date.fromisoformat(day)
    figures = reports.range_report(conn, date, date, now)["by_kiosk"].get(kiosk_id)
    p = m.payments.c
    pays = conn.execute(select(p.kind, p.method, p.amount).where(
        p.kiosk_id == kiosk_id, p.occurred_day == day)).all()
    money = day_metrics([PaymentRecord(r.kind, r.method, int(r.amount)) for r in pays])
    lines = [Line(k, _int(report.get(k)), int(figures[k]) if figures else 0) for k in COMPARED]
    lines.append(Line("payments", _int(report.get("payments")), money.payments))
    kiosk_taken = report.get("taken_by_method") or {}
    kiosk_refunded = report.get("refunds_by_method") or {}
    for method in sorted(set(kiosk_taken) | set(money.taken_by_method)):
        lines.append(Line(f"taken:{method}", _int(kiosk_taken.get(method, 0)),
                          money.taken_by_method.get(method, 0)))
    for method in sorted(set(kiosk_refunded) | set(money.refunds_by_method)):
        lines.append(Line(f"refunded:{method}", _int(kiosk_refunded.get(method, 0)),
                          money.refunds_by_method.get(method, 0)))
    server_cash = money.cash_expected()
    lines.append(Line("cash_expected", _int(report.get("cash_expected")), server_cash))
    return DayCheck(day=day, kiosk_id=kiosk_id, staff_no=staff_no, closed_at=closed_at,
                    lines=lines, cash_expected=_int(report.get("cash_expected")),
                    cash_counted=_int(report.get("cash_counted")),
                    server_cash_expected=server_cash)


# -- refunds and waivers ----------------------------------------------------------------------


def refunds_and_waivers(conn: Connection, *, start: dt.date,
                        end: dt.date) -> list[dict[str, Any]]:
    """Refunds (payments of kind refund) and fee waivers of the days, newest first: who, why,
    how much."""
    first, last = start.isoformat(), end.isoformat()
    p = m.payments.c
    out: list[dict[str, Any]] = [
        {"at": r.occurred_at, "what": "refund", "amount": int(r.amount), "staff_no": r.staff_no or "",
         "kiosk_id": r.kiosk_id, "reader_id": r.reader_id or "", "receipt_no": r.receipt_no,
         "reason": ""}
        for r in conn.execute(select(m.payments).where(
            p.kind == "refund", p.occurred_day >= first, p.occurred_day <= last))]
    e, f = m.events.c, m.fees.c
    waived = conn.execute(select(e.kiosk_id, e.occurred_at, e.payload).where(
        e.kind == ev.FEE_WAIVED, e.status == "applied", e.occurred_day >= first,
        e.occurred_day <= last)).all()
    fee_ids = [json.loads(w.payload).get("fee_id") for w in waived]
    amounts = {r.fee_id: int(r.amount) for r in conn.execute(
        select(f.fee_id, f.amount).where(f.fee_id.in_(fee_ids)))} if fee_ids else {}
    for w in waived:
        payload = json.loads(w.payload)
        out.append({"at": w.occurred_at, "what": "waiver",
                    "amount": amounts.get(payload.get("fee_id"), 0),
                    "staff_no": payload.get("staff_no", ""), "kiosk_id": w.kiosk_id,
                    "reader_id": payload.get("reader_id", ""), "receipt_no": "",
                    "reason": payload.get("reason", "")})
    out.sort(key=lambda r: dt.datetime.fromisoformat(r["at"]), reverse=True)
    return out
