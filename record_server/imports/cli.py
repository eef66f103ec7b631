"""``record-server import-items FILE`` and ``import-readers FILE``: the console's imports from
the command line (the same checks and the same one transaction), for big files and the bench.

Every error goes to stdout, one line each (``line<TAB>column<TAB>reason<TAB>value``), then a
summary; exit status 0 when written (or, with ``--dry-run``, when clean), 1 when the file has
errors (nothing written), 2 when it is refused as a whole. Audited as staff ``--staff-no``
(default ``cli``).
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from library_core.clock import Clock
from record_server.config import ServerConfig
from record_server.db import Database
from record_server.imports import jobs
from record_server.imports.marc import FLAVOURS, MarcProfile
from record_server.imports.rows import Checked, FileRefused

log = logging.getLogger(__name__)
MARC_SUFFIXES = (".mrc", ".marc", ".iso", ".xml", ".marcxml")


def add_import_commands(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    items = sub.add_parser("import-items", help="import items from CSV/XLSX, or the catalogue "
                                                "from MARC (ISO 2709, MARCXML)")
    readers = sub.add_parser("import-readers", help="import readers (and their cards) from "
                                                    "CSV/XLSX")
    for p in (items, readers):
        common(p)
        p.add_argument("file", help="the file to import")
        p.add_argument("--dry-run", action="store_true", help="check only, write nothing")
        p.add_argument("--staff-no", default="cli", help="who the audit log names (default cli)")
    items.add_argument("--marc", choices=FLAVOURS, default=None,
                       help="read MARC records of this flavour (default: by the file's suffix "
                            f"{', '.join(MARC_SUFFIXES)}, flavour auto)")
    items.add_argument("--barcode-field", default=None, metavar="TAG$CODE",
                       help="where the barcode is (default MARC 21 952$p, CNMARC 995$f)")
    items.add_argument("--call-no-field", default=None, metavar="TAG$CODE",
                       help="where the call number is (default 952$o, CNMARC 995$k)")


def _import_file(args: argparse.Namespace) -> jobs.ImportFile:
    path = Path(args.file)
    data = path.read_bytes()
    if args.command == "import-readers":
        return jobs.ImportFile("readers", path.name, data)
    marc = args.marc or ("auto" if path.suffix.lower() in MARC_SUFFIXES else None)
    if marc is None:
        return jobs.ImportFile("items", path.name, data)
    return jobs.ImportFile("marc", path.name, data,
                           MarcProfile(marc, args.barcode_field, args.call_no_field))


def _print_errors(checked: Checked, out: Callable[[str], None]) -> None:
    for e in checked.errors:
        out(f"{e.line}\t{e.column}\t{e.reason}\t{e.value[:80]}")
    out(f"{len(checked.errors)} errors, {checked.rows} good rows: nothing written")


def run_import(args: argparse.Namespace, db: Database, config: ServerConfig, clock: Clock,
               out: Callable[[str], None]) -> int:
    f = _import_file(args)
    started = time.monotonic()
    try:
        if args.dry_run:
            checked = jobs.dry_run(db, f, today=clock.now().date())
            if checked.errors:
                _print_errors(checked, out)
                return 1
            out(f"0 errors, {checked.rows} good rows (dry run: nothing written)")
            return 0

        def progress(done: int) -> None:
            if done % 100_000 == 0:
                log.info("%s: %d rows written", f.file_name, done)

        counts = jobs.commit(db, f, now=clock.now(), schedule=config.fee_schedule,
                             staff_no=args.staff_no, progress=progress)
    except FileRefused as err:
        out(f"refused: {err.reason} {err.detail}".rstrip())
        return 2
    except jobs.ImportBlocked as err:
        _print_errors(err.checked, out)
        return 1
    written = ", ".join(f"{n} {what}" for what, n in counts.items())
    out(f"imported {written} from {f.file_name} in {time.monotonic() - started:.1f} s")
    return 0
