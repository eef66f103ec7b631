"""The ``kiosk`` command: run the app, run the demo walk-through, check a config file."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from library_core.errors import ConfigError, KioskError

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


def _enroll(path: str, code: str, token_file: str | None) -> int:
    """Exchange a one-time enrollment code for this kiosk's token and store it (mode 0600)."""
    from config.settings import load_settings
    from server_client.sync import RecordServerClient

    try:
        settings = load_settings(Path(path))
    except ConfigError as err:
        sys.stderr.write(f"config error: {err.detail}\n")
        return 2
    target = Path(token_file or settings.secrets.kiosk_token_file or "")
    if not str(target) or str(target) == ".":
        sys.stderr.write("config error: secrets.kiosk_token_file is not set (or pass --token-file)\n")
        return 2
    client = RecordServerClient.from_settings(settings.server, settings.kiosk.id, "")
    try:
        token = client.enroll(code.strip())
    except KioskError as err:
        sys.stderr.write(f"enrollment failed: {err.detail or err.message_id}\n")
        return 1
    finally:
        client.close()
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(token + "\n")
    os.chmod(target, 0o600)
    number = f" as kiosk number {client.kiosk_no}" if client.kiosk_no is not None else ""
    sys.stdout.write(f"kiosk {settings.kiosk.id} enrolled{number}; token written to {target}\n")
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
    enroll_p = sub.add_parser("enroll", help="exchange a one-time code for this kiosk's token")
    enroll_p.add_argument("--config", required=True)
    enroll_p.add_argument("--code", required=True, help="printed by `record-server enroll-kiosk`")
    enroll_p.add_argument("--token-file", default=None, help="default: secrets.kiosk_token_file")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if args.command == "check-config":
        return _check_config(args.config)
    if args.command == "enroll":
        return _enroll(args.config, args.code, args.token_file)
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
