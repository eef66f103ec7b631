"""``record-server reconcile``: the finance page's bill import from the command line.

The same code as the page (``console.bill_import.import_bill``): the file screened (size,
control characters and bidi overrides, spreadsheet formulas, field counts, ids and times),
parsed, set against our books and kept as a reconciliation run with its audit row, in one
transaction, as the member ``--staff-no`` names (an active supervisor, checked in that
transaction). The file is read at most ``MAX_BILL`` + 1 bytes.

stdout: the stored run as JSON (``run_id``, ``provider``, ``days``, ``bill_rows``,
``matched``, totals and ``mismatches``). Exit status 0 when nothing differs, 1 when something
does, 2 when the file or the member is refused: then the JSON is ``refused`` (the reason,
``console.recon.err.<reason>``), ``detail`` and the message in both languages, and nothing is
stored.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
from collections.abc import Callable
from typing import Any

from library_core.clock import Clock
from library_core.i18n import translate
from record_server import codes_check
from record_server.db import Database

log = logging.getLogger(__name__)
LANGUAGES = ("zh_CN", "en")


def add_reconcile_command(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    rec = sub.add_parser("reconcile", help="import a payment provider's daily bill: checked "
                                           "against the books and kept as a run (JSON)")
    common(rec)
    rec.add_argument("--provider", default="auto", choices=("auto", "wechat", "alipay"),
                     help="the bill's provider (default: the layout that parses)")
    rec.add_argument("--bill", required=True, help="the provider's bill file (CSV)")
    rec.add_argument("--day", action="append", default=None,
                     help="YYYY-MM-DD of our books to compare, repeatable (default: the bill's "
                          "days)")
    rec.add_argument("--staff-no", required=True,
                     help="the supervisor running it (the run and the audit log name them)")


def _run_json(db: Database, run_id: str) -> dict[str, Any]:
    from record_server.console import bill_import

    with db.read() as conn:
        row = bill_import.run(conn, run_id)
    assert row is not None  # just stored, in a committed transaction
    row.pop("created_local", None)
    row["mismatches"] = [dataclasses.asdict(f) for f in row["mismatches"]]
    return row


def run_reconcile(args: argparse.Namespace, db: Database, clock: Clock,
                  out: Callable[[str], None]) -> int:
    """Import ``args.bill`` (see the module doc). Raises ValidationError for a staff number
    not of the form S0001 (exit 2 through ``cli.main``)."""
    from record_server.console import bill_import

    staff_no = codes_check.staff_no(args.staff_no)
    try:
        data = bill_import.read_bill(args.bill)
        run_id = bill_import.import_bill(
            db, provider=args.provider, file_name=os.path.basename(args.bill), data=data,
            day=args.day or [], staff_no=staff_no, now=clock.now())
    except bill_import.BillRefused as err:
        message = {lang: translate(f"console.recon.err.{err.reason}", lang, detail=err.detail)
                   for lang in LANGUAGES}
        log.error("bill %s refused: %s %s (%s); nothing stored", args.bill, err.reason,
                  err.detail, message["en"])
        out(json.dumps({"refused": err.reason, "detail": err.detail, "message": message},
                       ensure_ascii=False, indent=2))
        return 2
    result = _run_json(db, run_id)
    log.info("bill %s reconciled as run %s by %s: %d matched, %d mismatches", args.bill, run_id,
             staff_no, result["matched"], result["mismatch_count"])
    out(json.dumps(result, ensure_ascii=False, indent=2))
    return 1 if result["mismatch_count"] else 0
