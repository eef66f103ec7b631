"""The ``kiosk`` command: run the app, run the demo walk-through, check a config file."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from kiosk.errors import ConfigError

log = logging.getLogger("kiosk")


def _check_config(path: str) -> int:
    from config.settings import load_settings

    try:
        settings = load_settings(Path(path))
    except ConfigError as err:
        sys.stderr.write(f"config error: {err.detail}\n")
        return 2
    sys.stdout.write(
        f"{path}: OK (kiosk {settings.kiosk.id}, reader {settings.card_reader.type}, "
        f"printer {settings.printer.type}, scanner {settings.scanner.type})\n"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kiosk", description="Library front-desk kiosk")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    run_p = sub.add_parser("run", help="run the kiosk app")
    run_p.add_argument("--config", default="/etc/library-kiosk/kiosk.toml")
    run_p.add_argument("--fullscreen", action="store_true", default=None)
    demo_p = sub.add_parser("demo", help="simulated devices + embedded record server")
    demo_p.add_argument("--output", default="demo-output")
    check_p = sub.add_parser("check-config", help="validate a config file and exit")
    check_p.add_argument("--config", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if args.command == "check-config":
        return _check_config(args.config)
    try:
        if args.command == "run":
            from kiosk.app_runtime import run

            return run(args.config, fullscreen=args.fullscreen)
        from kiosk.demo import demo_main

        return demo_main(args.output)
    except ConfigError as err:
        sys.stderr.write(f"config error: {err.detail}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
