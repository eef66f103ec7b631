"""What both payment-provider emulators share: a threaded HTTP(S) server on 127.0.0.1, a
script of how the next trades go, and the trades' books.

A ``Script`` says how the provider treats the next payment: ``success``; ``waiting`` (the payer
must confirm: USERPAYING / WAIT_BUYER_PAY for ``waits`` queries, then paid, or never when
``waits`` is None); ``system_error`` (the pay call answers SYSTEMERROR; the trade is then
``after`` -- paid or not -- when queried); ``bad_signature`` (every answer signed with the wrong
key); ``timeout`` (the pay call is held ``hold_s`` before its answer: past the client's
timeout); ``drop`` (the connection is closed with no answer). In ``timeout`` and ``drop`` the
trade itself is still made (``after``): the client cannot know.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import http.server
import itertools
import socket
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.support.tls import TestCa


@dataclass
class Script:
    mode: str = "success"  # success | waiting | system_error | bad_signature | timeout | drop
    waits: int | None = 0
    after: str = "paid"  # system_error / timeout / drop: the trade's real state: paid | none
    hold_s: float = 3.0
    amount_delta: int = 0  # success answers claim this many fen more than was asked
    refund_fails: bool = False


@dataclass
class Trade:
    out_trade_no: str
    amount: int
    state: str  # paid | waiting | reversed | closed | refunded
    transaction_id: str
    waits_left: int | None = 0
    refunded: int = 0
    paid_at: str = ""
    # refunds taken, by the merchant's refund number: a repeated number is the same refund
    # (both providers answer it again, nothing more is paid back)
    refund_nos: set[str] = field(default_factory=set)


@dataclass
class Books:
    """The provider's side: trades, calls seen, and what the merchant kept."""

    trades: dict[str, Trade] = field(default_factory=dict)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    script: Script = field(default_factory=Script)
    pay_seen: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def next_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):012d}"

    def kept(self) -> int:
        """Fen the merchant holds: paid trades minus refunds."""
        return sum(t.amount - t.refunded for t in self.trades.values()
                   if t.state in ("paid", "refunded"))

    def count(self, what: str) -> int:
        return sum(1 for name, _ in self.calls if name == what)


def client_certificate(ca: TestCa, folder: Path) -> tuple[Path, Path]:
    """A merchant API client certificate (clientAuth) signed by the test CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)  # certificate validity only
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "merchant 10000100")]))
            .issuer_name(ca.cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(ca.key, hashes.SHA256()))
    cert_path, key_path = folder / "apiclient_cert.pem", folder / "apiclient_key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class EmulatorServer:
    """Serves ``handler_cls`` (which reaches ``self.server.emulator``) on 127.0.0.1 in a thread;
    HTTPS when ``tls`` = (cert, key, client CA file) is given (client certificates optional,
    checked per call by the handler)."""

    def __init__(self, handler_cls: type[http.server.BaseHTTPRequestHandler], emulator: Any,
                 tls: tuple[Path, Path, Path] | None = None) -> None:
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler_cls)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False  # a held answer (timeout script) never holds teardown
        self.httpd.emulator = emulator  # type: ignore[attr-defined]
        scheme = "http"
        if tls is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(str(tls[0]), str(tls[1]))
            ctx.load_verify_locations(str(tls[2]))
            ctx.verify_mode = ssl.CERT_OPTIONAL
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> EmulatorServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def drop_connection(handler: http.server.BaseHTTPRequestHandler) -> None:
    """Close the connection with no answer (a dropped connection, as the client sees it)."""
    handler.close_connection = True
    with contextlib.suppress(OSError):
        handler.connection.shutdown(socket.SHUT_RDWR)
