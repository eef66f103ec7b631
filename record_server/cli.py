"""``record-server`` commands: serve, migrate, create-staff, enroll-kiosk, revoke-kiosk,
unlock-staff. Results go to stdout (codes, one line each); logs to stderr. (The kiosk demo's
data is seeded by ``kiosk demo`` through ``kiosk.embedded_server``: the server knows no demo.)"""

from __future__ import annotations

import argparse
import dataclasses
import getpass
import ipaddress
import json
import logging
import os
import ssl
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from library_core.clock import Clock, SystemClock
from library_core.errors import ConfigError, KioskError
from record_server.config import ENV_DATABASE_URL, ServerConfig, check_library_key, load_config
from record_server.db import Database

log = logging.getLogger("record_server")


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", default=None, help="folder for the SQLite file (default ./record-server-data)")
    p.add_argument("--database-url", default=None,
                   help=f"SQLAlchemy URL; default {ENV_DATABASE_URL} or a SQLite file in the data folder")


SERVE_TRANSPORT = """\
transport (kiosks send staff PINs and their tokens: never plain HTTP over a network):
  --tls-cert FILE --tls-key FILE   serve HTTPS on any --host. Both files are read and the key is
                                   matched to the certificate before anything starts; a missing or
                                   unreadable file, an encrypted key or a key that is not the
                                   certificate's stops the server (exit code 2) with the reason.
  neither                          plain HTTP, and then --host must be a loopback address
                                   (127.0.0.0/8, ::1, localhost): a TLS reverse proxy on the same
                                   host forwards to it (deploy/record-server.service).
  --allow-plain-http               plain HTTP on a non-loopback --host, only for a TLS proxy that
                                   reaches this server over a private network (a container
                                   network, say); the server logs a warning at start.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="record-server", description="Library record server")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the HTTP API (HTTPS with --tls-cert/--tls-key)",
                           epilog=SERVE_TRANSPORT,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(serve)
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to bind (default 127.0.0.1); one that is not loopback needs "
                            "--tls-cert/--tls-key or --allow-plain-http")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--tls-cert", metavar="FILE", default=None,
                       help="PEM certificate chain, the server's certificate first: serve HTTPS")
    serve.add_argument("--tls-key", metavar="FILE", default=None,
                       help="PEM private key of --tls-cert, unencrypted (readable by this user only)")
    serve.add_argument("--allow-plain-http", action="store_true",
                       help="allow plain HTTP on a non-loopback --host (behind a TLS proxy only)")
    serve.add_argument("--no-migrate", action="store_true", help="do not upgrade the schema first")
    serve.add_argument("--login-rate", type=int, default=None, help="log-in attempts per minute per client")
    serve.add_argument("--workers", type=int, default=1,
                       help="worker processes (default 1); more than one needs PostgreSQL")
    serve.add_argument("--lockout-steps", metavar="SECONDS,...", default=None,
                       help="staff PIN lockout lengths, 1st, 2nd, ... lockout in a row, then "
                            "doubling up to a day (default 60,300,900,3600: "
                            "library_core.rules.PinLockout); for drills and tests")
    serve.add_argument("--log-level", default="INFO")
    migrate = sub.add_parser("migrate", help="create or upgrade the database schema")
    _common(migrate)
    staff = sub.add_parser("create-staff", help="add or update a staff member")
    _common(staff)
    staff.add_argument("--staff-no", required=True)
    staff.add_argument("--name", required=True)
    staff.add_argument("--role", choices=("desk", "supervisor", "auditor"), default="desk",
                       help="auditor: the console only, read-only (no PIN, never at a kiosk)")
    staff.add_argument("--card-no", default=None)
    staff.add_argument("--pin-env", default="STAFF_PIN",
                       help="environment variable holding the PIN (asked for when unset)")
    web = staff.add_mutually_exclusive_group()
    web.add_argument("--password-env", metavar="VAR", default=None,
                     help="environment variable holding the web password (console, staff "
                          "log-in API; never the PIN)")
    web.add_argument("--issue-code", action="store_true",
                     help="print a one-time code that sets the web password on first log-in")
    enroll = sub.add_parser("enroll-kiosk", help="print a one-time enrollment code for a kiosk")
    _common(enroll)
    enroll.add_argument("--kiosk-id", required=True)
    enroll.add_argument("--branch", default="main")
    from record_server.reconcile_cli import add_reconcile_command
    add_reconcile_command(sub, _common)
    revoke = sub.add_parser("revoke-kiosk", help="revoke a kiosk's token")
    _common(revoke)
    revoke.add_argument("--kiosk-id", required=True)
    purge = sub.add_parser("purge-visitors", help="remove visitors' personal data older than "
                           "the retention period (RECORD_SERVER_VISITOR_RETENTION_DAYS)")
    _common(purge)
    purge.add_argument("--retention-days", type=int, default=None,
                       help="override the configured retention (days, at least 1)")
    from record_server.imports.cli import add_import_commands
    add_import_commands(sub, _common)
    from record_server.ils.cli import add_export_command
    add_export_command(sub, _common)
    unlock = sub.add_parser("unlock-staff", help="unlock a staff account after wrong PINs")
    _common(unlock)
    unlock.add_argument("--staff-no", required=True)
    return parser


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address (127.0.0.0/8, ::1); a name is not looked up."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _read_pem(option: str, path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as err:
        raise ConfigError(option, f"cannot read {path}: {err.strerror or err}") from None


def serve_transport(host: str, tls_cert: str | None, tls_key: str | None,
                    allow_plain_http: bool) -> dict[str, Any]:
    """uvicorn's TLS arguments for ``serve``, after the transport rule (``SERVE_TRANSPORT``).

    Raises ConfigError naming the option: one of --tls-cert/--tls-key without the other, a file
    that cannot be read, is not PEM or is an encrypted key, a key that is not the certificate's,
    --allow-plain-http with TLS, plain HTTP on a non-loopback host without --allow-plain-http.
    """
    if (tls_cert is None) != (tls_key is None):
        missing = "--tls-key" if tls_key is None else "--tls-cert"
        raise ConfigError(missing, "--tls-cert and --tls-key go together: give both or neither")
    if tls_cert is not None and tls_key is not None:
        if allow_plain_http:
            raise ConfigError("--allow-plain-http", "contradicts --tls-cert: HTTPS is served")
        if b"-----BEGIN CERTIFICATE-----" not in _read_pem("--tls-cert", tls_cert):
            raise ConfigError("--tls-cert", f"{tls_cert} holds no PEM certificate")
        key_pem = _read_pem("--tls-key", tls_key)
        if b"PRIVATE KEY-----" not in key_pem:
            raise ConfigError("--tls-key", f"{tls_key} holds no PEM private key")
        if b"ENCRYPTED" in key_pem:
            raise ConfigError("--tls-key", f"{tls_key} is encrypted: give the key unencrypted, "
                                           "readable only by the server's user")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:  # what uvicorn will do, now, so a bad pair stops the start with the reason
            context.load_cert_chain(tls_cert, tls_key, password=lambda: b"")
        except ssl.SSLError as err:
            if err.reason == "KEY_VALUES_MISMATCH":
                raise ConfigError("--tls-key", f"{tls_key} is not the key of the certificate "
                                               f"in {tls_cert}") from None
            raise ConfigError("--tls-cert", f"{tls_cert} and {tls_key} cannot be loaded: "
                                            f"{err.reason or err}") from None
        log.info("serving HTTPS on %s", host)
        return {"ssl_certfile": tls_cert, "ssl_keyfile": tls_key}
    if not is_loopback(host):
        if not allow_plain_http:
            raise ConfigError("--host", f"{host} is not a loopback address: plain HTTP there "
                                        "would carry PINs and tokens in clear; give --tls-cert "
                                        "and --tls-key, or --allow-plain-http behind a TLS proxy")
        log.warning("serving plain HTTP on %s (--allow-plain-http): only a TLS proxy may "
                    "reach this port", host)
    return {}


MAX_WORKERS = 64
ENV_WORKER_ARGS = "RECORD_SERVER_WORKER_ARGS"  # serve's settings, for its worker processes


def serve_workers(workers: int, database_url: str) -> int:
    """The number of worker processes for ``serve --workers``. Raises ConfigError: below 1,
    above ``MAX_WORKERS``, or more than one on SQLite (one file, one writing process: the
    server's write lock is per process, so two processes would fight over the file)."""
    if not 1 <= workers <= MAX_WORKERS:
        raise ConfigError("--workers", f"must be 1 to {MAX_WORKERS}, not {workers}")
    if workers > 1 and database_url.startswith("sqlite"):
        raise ConfigError("--workers", f"{workers} worker processes need PostgreSQL "
                          "(--database-url postgresql+psycopg://...); SQLite serves with one")
    return workers


def lockout_steps(text: str | None) -> tuple[int, ...] | None:
    """``--lockout-steps 60,300``: positive whole seconds. Raises ConfigError."""
    if text is None:
        return None
    try:
        steps = tuple(int(part) for part in text.split(","))
    except ValueError:
        steps = ()
    if not steps or min(steps) < 1:
        raise ConfigError("--lockout-steps", f"want whole seconds > 0 like 60,300,900, not {text!r}")
    return steps


def _serve_config(config: ServerConfig, lockout: tuple[int, ...] | None) -> ServerConfig:
    return config if lockout is None else dataclasses.replace(config, lockout_steps_s=lockout)


def worker_app() -> Any:
    """The app of one ``serve --workers N`` worker process (uvicorn imports this factory in
    each process it spawns): the settings ``serve`` checked, from ``ENV_WORKER_ARGS``. The
    schema was migrated once by ``serve`` before the workers started."""
    from record_server.app import create_app

    args = json.loads(os.environ[ENV_WORKER_ARGS])
    logging.basicConfig(level=args["log_level"], stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    config = load_config(data_dir=args["data_dir"], database_url=args["database_url"],
                         login_rate_per_minute=args["login_rate"])
    steps = args["lockout_steps"]
    clock = SystemClock()
    app = create_app(_serve_config(config, tuple(steps) if steps else None), clock=clock)
    _purge_timer(app, config, clock)
    return app


def _purge_timer(app: Any, config: ServerConfig, clock: Clock) -> None:
    """The daily visitor purge while serving (record_server.console.visitor_purge)."""
    from record_server.console.visitor_purge import install_timer
    install_timer(app, app.state.db, clock, retention_days=config.visitor_retention_days,
                  interval_s=config.visitor_purge_interval_s)


def _db(config: ServerConfig) -> Database:
    db = Database(config.database_url)
    db.migrate()
    db.use_library_key(config.library_key)
    return db


def _create_staff(args: argparse.Namespace, db: Database, clock: SystemClock) -> int:
    """create-staff: the member (a PIN unless an auditor), then the web password from
    ``--password-env`` or a one-time code (``--issue-code``, printed on its own line)."""
    from record_server import auth, codes_check, passwords
    from record_server.console.staff_data import create_auditor

    codes_check.staff_no(args.staff_no)
    if args.role == "auditor":
        with db.write() as conn:
            create_auditor(conn, staff_no=args.staff_no, name=args.name)
    else:
        pin = os.environ.get(args.pin_env) or getpass.getpass("PIN (6 digits): ")
        auth.create_staff(db, staff_no=args.staff_no, name=args.name, role=args.role,
                          pin=pin, card_no=args.card_no)
    _out(f"staff {args.staff_no} saved")
    if args.password_env:
        password = os.environ.get(args.password_env, "")
        if not password:
            raise ConfigError("--password-env", f"{args.password_env} is empty or unset")
        with db.write() as conn:
            passwords.set_password_now(conn, args.staff_no, password)
    elif args.issue_code:
        with db.write() as conn:
            code = passwords.issue_code(conn, args.staff_no, clock.now())
        _out(f"one-time code for {args.staff_no}: {code}")
    return 0


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
        tls = serve_transport(args.host, args.tls_cert, args.tls_key, args.allow_plain_http)
        workers = serve_workers(args.workers, config.database_url)
        steps = lockout_steps(args.lockout_steps)
        config = _serve_config(config, steps)
        check_library_key(config)
        import uvicorn

        from record_server.app import create_app
        db = Database(config.database_url)
        if not args.no_migrate:
            db.migrate()
            from record_server.seed import publish_fee_schedule
            publish_fee_schedule(db, config.fee_schedule)
            from record_server.imports.jobs import fail_interrupted
            fail_interrupted(db, clock.now(), config.data_dir)
        # kiosks sync every 5 s: keep their connections open longer than uvicorn's 5 s default
        options: dict[str, Any] = dict(host=args.host, port=args.port, log_level="warning",
                                       access_log=False, timeout_keep_alive=30, **tls)
        if workers == 1:
            app = create_app(config, clock=clock, db=db)
            _purge_timer(app, config, clock)
            uvicorn.run(app, **options)
            return 0
        # N processes: per-kiosk order and exactly-once hold through the kiosk row's lock
        # (SELECT ... FOR UPDATE in each push), lockouts through the staff row's lock and
        # rate limits through login_hits: all in PostgreSQL, nothing in a process's memory
        db.dispose()
        os.environ[ENV_WORKER_ARGS] = json.dumps({
            "data_dir": str(config.data_dir), "database_url": config.database_url,
            "login_rate": config.login_rate_per_minute, "lockout_steps": steps,
            "log_level": args.log_level})
        log.info("serving with %d worker processes", workers)
        uvicorn.run("record_server.cli:worker_app", factory=True, workers=workers, **options)
        return 0
    db = _db(config)
    if args.command == "migrate":
        from record_server.seed import publish_fee_schedule
        publish_fee_schedule(db, config.fee_schedule)
        log.info("schema is up to date")
        return 0
    if args.command == "create-staff":
        return _create_staff(args, db, clock)
    if args.command == "enroll-kiosk":
        codes_check.kiosk_id(args.kiosk_id)
        _out(auth.enroll_kiosk(db, args.kiosk_id, clock, branch=args.branch,
                               hours=config.enroll_code_hours))
        return 0
    if args.command == "reconcile":  # the finance page's import: screened, stored, audited
        from record_server.reconcile_cli import run_reconcile
        return run_reconcile(args, db, clock, _out)
    if args.command == "revoke-kiosk":
        return 0 if auth.revoke_kiosk(db, args.kiosk_id, clock) else 1
    if args.command == "purge-visitors":
        from record_server.console.visitor_purge import purge_visitors
        purged = purge_visitors(db, now=clock.now(),
                                retention_days=(config.visitor_retention_days
                                                if args.retention_days is None
                                                else args.retention_days))
        _out(f"purged {purged.visits} visits, {purged.events} events before {purged.cutoff}")
        return 0
    if args.command in ("import-items", "import-readers"):
        from record_server.imports.cli import run_import
        return run_import(args, db, config, clock, _out)
    if args.command == "export-readers":
        from record_server.ils.cli import run_export
        return run_export(args, db, clock, _out)
    if args.command == "unlock-staff":
        from record_server.passwords import unlock_password
        with db.write() as conn:  # the web password's lock too
            unlock_password(conn, args.staff_no)
        return 0 if auth.unlock_staff(db, args.staff_no) else 1
    raise AssertionError(args.command)
