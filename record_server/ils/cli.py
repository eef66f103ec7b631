"""``record-server export-readers --since DATE --format koha-csv|generic-csv|folio-json``: new
readers for the library's ILS (``record_server.ils.export``), to a file or stdout; audited as
the console's export is (staff ``cli``)."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Callable
from typing import Any

from library_core.clock import Clock
from record_server.console import audit
from record_server.db import Database
from record_server.ils import export


def add_export_command(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser("export-readers", help="export readers registered since a day for the "
                       "ILS to import (Koha patron CSV, generic CSV, FOLIO user import JSON)")
    common(p)
    p.add_argument("--since", required=True, type=dt.date.fromisoformat,
                   help="first day of registration (YYYY-MM-DD, China time)")
    p.add_argument("--format", required=True, choices=export.FORMATS, dest="export_format")
    p.add_argument("--output", default="-", help="file to write (default: stdout)")


def run_export(args: argparse.Namespace, db: Database, clock: Clock,
               out: Callable[[str], None]) -> int:
    with_ids = export.id_numbers_allowed()
    with db.write() as conn:
        readers = export.new_readers(conn, since=args.since)
        audit.record(conn, staff_no="cli", action="readers.export_ils", now=clock.now(),
                     target=args.export_format,
                     after={"format": args.export_format, "since": args.since.isoformat(),
                            "rows": len(readers), "id_numbers": with_ids})
    body = export.render(readers, args.export_format, with_id_numbers=with_ids)
    if args.output == "-":
        sys.stdout.buffer.write(body)
        sys.stdout.flush()
    else:
        with open(args.output, "wb") as fh:
            fh.write(body)
        out(f"exported {len(readers)} readers to {args.output}")
    return 0
