"""The ILS exception report in staff mode: every queued transaction the ILS refused (or that
could not wait for it), oldest first, as (message id, params) lines for ``show_info``. The
console's half of the report is for a later session."""

from __future__ import annotations

from typing import Any

from library_core.money import format_fen


def ils_exception_lines(services: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    runtime = services.get("ils_runtime")
    if runtime is None:
        return [("staff.ils_none", {})]
    entries = runtime.desk.queue.exceptions()
    if not entries:
        return [("staff.ils_exceptions_none", {})]
    lines: list[tuple[str, dict[str, Any]]] = []
    for e in entries:
        p = e.payload
        params: dict[str, Any] = {
            "at": e.queued_at.strftime("%m-%d %H:%M"), "answer": e.answer or "-",
            "item": str(p.get("item", "")), "patron": str(p.get("patron", "")),
            "transaction_id": str(p.get("transaction_id", "")),
            "amount": format_fen(int(p.get("amount", 0) or 0))}
        lines.append((f"staff.ils_exception.{e.kind}", params))
    return lines
