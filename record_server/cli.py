"""``record-server`` commands: serve, migrate, create-staff, enroll-kiosk, revoke-kiosk,
unlock-staff. Results go to stdout (codes, one line each); logs to stderr. (The kiosk demo's
data is seeded by ``kiosk demo`` through ``kiosk.embedded_server``: the server knows no demo.)"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import sys
from collections.abc import Sequence

from library_core.clock import SystemClock
from library_core.errors import KioskError
from record_server.config import ENV_DATABASE_URL, ServerConfig, load_config
from record_server.db import Database

log = logging.getLogger("record_server")


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", default=None, help="folder for the SQLite file (default ./record-server-data)")
    p.add_argument("--database-url", default=None,
                   help=f"SQLAlchemy URL; default {ENV_DATABASE_URL} or a SQLite file in the data folder")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="record-server", description="Library record server")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the HTTP API")
    _common(serve)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--no-migrate", action="store_true", help="do not upgrade the schema first")
    serve.add_argument("--login-rate", type=int, default=None, help="log-in attempts per minute per client")
    serve.add_argument("--log-level", default="INFO")
    migrate = sub.add_parser("migrate", help="create or upgrade the database schema")
    _common(migrate)
    staff = sub.add_parser("create-staff", help="add or update a staff member")
    _common(staff)
    staff.add_argument("--staff-no", required=True)
    staff.add_argument("--name", required=True)
    staff.add_argument("--role", choices=("desk", "supervisor"), default="desk")
    staff.add_argument("--card-no", default=None)
    staff.add_argument("--pin-env", default="STAFF_PIN",
                       help="environment variable holding the PIN (asked for when unset)")
    enroll = sub.add_parser("enroll-kiosk", help="print a one-time enrollment code for a kiosk")
    _common(enroll)
    enroll.add_argument("--kiosk-id", required=True)
    enroll.add_argument("--branch", default="main")
    revoke = sub.add_parser("revoke-kiosk", help="revoke a kiosk's token")
    _common(revoke)
    revoke.add_argument("--kiosk-id", required=True)
    unlock = sub.add_parser("unlock-staff", help="unlock a staff account after wrong PINs")
    _common(unlock)
    unlock.add_argument("--staff-no", required=True)
    return parser


def _db(config: ServerConfig) -> Database:
    db = Database(config.database_url)
    db.migrate()
    return db


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=getattr(args, "log_level", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s %(message)s", stream=sys.stderr)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        config = load_config(data_dir=args.data_dir, database_url=args.database_url,
                             login_rate_per_minute=getattr(args, "login_rate", None))
        return _run(args, config)
    except (KioskError, ValueError) as err:
        log.error("%s", err)
        return 2


def _run(args: argparse.Namespace, config: ServerConfig) -> int:
    clock = SystemClock()
    from record_server import auth, codes_check

    if args.command == "serve":
        import uvicorn

        from record_server.app import create_app
        db = Database(config.database_url)
        if not args.no_migrate:
            db.migrate()
            from record_server.seed import publish_fee_schedule
            publish_fee_schedule(db, config.fee_schedule)
        app = create_app(config, clock=clock, db=db)
        # kiosks sync every 5 s: keep their connections open longer than uvicorn's 5 s default
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False,
                    timeout_keep_alive=30)
        return 0
    db = _db(config)
    if args.command == "migrate":
        from record_server.seed import publish_fee_schedule
        publish_fee_schedule(db, config.fee_schedule)
        log.info("schema is up to date")
        return 0
    if args.command == "create-staff":
        codes_check.staff_no(args.staff_no)
        pin = os.environ.get(args.pin_env) or getpass.getpass("PIN (6 digits): ")
        auth.create_staff(db, staff_no=args.staff_no, name=args.name, role=args.role,
                          pin=pin, card_no=args.card_no)
        _out(f"staff {args.staff_no} saved")
        return 0
    if args.command == "enroll-kiosk":
        codes_check.kiosk_id(args.kiosk_id)
        _out(auth.enroll_kiosk(db, args.kiosk_id, clock, branch=args.branch,
                               hours=config.enroll_code_hours))
        return 0
    if args.command == "revoke-kiosk":
        return 0 if auth.revoke_kiosk(db, args.kiosk_id, clock) else 1
    if args.command == "unlock-staff":
        return 0 if auth.unlock_staff(db, args.staff_no) else 1
    raise AssertionError(args.command)
