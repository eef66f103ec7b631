"""Run the benchmarks and print one table: ``python -m bench [name ...]``.

Names: receipt, returns, ingest, catchup, kiosks, tap, start, sip2, import, console (default: all, in that order).
Each benchmark runs in this process, one after the other; a benchmark that fails to run prints
a row saying so and the others still run. Exit status 0 unless a benchmark could not run.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import subprocess
import sys
import time
import traceback

from bench.common import RESULTS_DIR, ROOT, Result, format_table

NEEDS_SETUP = {"ingest"}  # Kinto's own venv (scripts/bench-setup.sh)

# name -> (module, one-line description)
BENCHMARKS: dict[str, tuple[str, str]] = {
    "receipt": ("bench.receipt", "ESC/POS bytes of a 20-item return receipt"),
    "returns": ("bench.returns", "return scan to committed check-in, 1M items / 200k loans"),
    "ingest": ("bench.ingest", "server ingest, 20 clients x 100-event batches, vs bare DB and Kinto"),
    "catchup": ("bench.catchup", "10k queued events push; replica pull of 100k readers / 500k items"),
    "kiosks": ("bench.kiosks", "200 simulated kiosks syncing every 5 s for 60 s"),
    "tap": ("bench.tap", "card tap through real pcscd to the reader screen drawn"),
    "start": ("bench.start", "kiosk cold start and resident memory after every flow"),
    "sip2": ("bench.sip2", "SIP2 check-in round trip via the adapter vs a bare socket"),
    "import": ("bench.imports", "record-server import-items of 1M items on PostgreSQL"),
    "console": ("bench.console", "console dashboard and reader search, 1M readers, a year of "
                "events from 20 kiosks, PostgreSQL"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", help=f"subset of: {', '.join(BENCHMARKS)}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    names = args.names or list(BENCHMARKS)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    if NEEDS_SETUP & set(names):
        print("== set-up: scripts/bench-setup.sh", flush=True)
        subprocess.run([str(ROOT / "scripts" / "bench-setup.sh")], check=True, timeout=900)
    results: list[Result] = []
    failed = False
    started = time.monotonic()
    for name in names:
        module_name, description = BENCHMARKS[name]
        print(f"== {name}: {description}", flush=True)
        t0 = time.monotonic()
        try:
            module = importlib.import_module(module_name)
            rows: list[Result] = module.run()
        except Exception as err:  # one broken benchmark must not hide the others
            failed = True
            traceback.print_exc()
            rows = [Result(name, "could not run", float("nan"), "", target="-", met=False,
                           notes=[f"{type(err).__name__}: {err}"])]
        print(format_table(rows), flush=True)
        print(f"-- {name} took {time.monotonic() - t0:.1f} s", flush=True)
        results.extend(rows)
    print()
    print(format_table(results))
    print(f"\ntotal {time.monotonic() - started:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
