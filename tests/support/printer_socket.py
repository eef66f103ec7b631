"""A receipt printer on a loopback TCP socket, and sample receipts of every kind.

``SocketPrinter`` listens on 127.0.0.1 (port 0), records every connection's bytes as one job
(status queries taken out) and answers ``DLE EOT 1/2/4`` like an Epson-compatible printer in
the state it is put in: ok, paper near end, paper out, cover open, silent (never answers) or
drop (closes the connection with a reset part-way through a job). ``after_job`` switches the
state as soon as job bytes arrive (paper running out while printing).

Use the ``printer_socket`` fixture, or ``with SocketPrinter() as p:``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import logging
import socket
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from kiosk.clock import CHINA_TZ
from kiosk.domain.receipts import Receipt, ReceiptKind, ReceiptLine

log = logging.getLogger(__name__)


class PrinterState(enum.Enum):
    OK = "ok"
    NEAR_END = "near_end"
    PAPER_OUT = "paper_out"
    COVER_OPEN = "cover_open"
    SILENT = "silent"
    DROP = "drop"


# DLE EOT 1 (printer), 2 (offline cause), 4 (paper sensor) replies, Epson bit layout
STATUS_REPLIES: dict[PrinterState, dict[int, int]] = {
    PrinterState.OK: {1: 0x16, 2: 0x12, 3: 0x12, 4: 0x12},
    PrinterState.NEAR_END: {1: 0x16, 2: 0x12, 3: 0x12, 4: 0x1E},
    PrinterState.PAPER_OUT: {1: 0x1E, 2: 0x32, 3: 0x12, 4: 0x72},
    PrinterState.COVER_OPEN: {1: 0x1E, 2: 0x16, 3: 0x12, 4: 0x12},
    PrinterState.DROP: {1: 0x16, 2: 0x12, 3: 0x12, 4: 0x12},
}


@dataclass
class Connection:
    job: bytearray = field(default_factory=bytearray)
    queries: list[int] = field(default_factory=list)
    dropped: bool = False


class SocketPrinter:
    """An ESC/POS printer on 127.0.0.1 that tests can put into any state."""

    def __init__(
        self,
        state: PrinterState = PrinterState.OK,
        *,
        drop_after: int = 64,
        after_job: PrinterState | None = None,
    ) -> None:
        self._state = state
        self.drop_after = drop_after
        self.after_job = after_job  # the state to switch to once a job's bytes arrive
        self.connections: list[Connection] = []
        self._cond = threading.Condition()
        self._closed = threading.Event()
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.2)
        self.host, self.port = self._server.getsockname()[:2]
        self._threads: list[threading.Thread] = []
        self._clients: list[socket.socket] = []
        self._acceptor = threading.Thread(target=self._accept, name="printer-socket", daemon=True)
        self._acceptor.start()

    # control ----------------------------------------------------------------------------

    @property
    def state(self) -> PrinterState:
        with self._cond:
            return self._state

    def set_state(self, state: PrinterState) -> None:
        with self._cond:
            self._state = state

    @property
    def jobs(self) -> list[bytes]:
        """Bytes of every finished connection that carried more than status queries."""
        with self._cond:
            return [bytes(c.job) for c in self.connections if c.job]

    def wait_for_connections(self, count: int, timeout: float = 5.0) -> bool:
        """Wait (bounded) until ``count`` connections have finished."""
        with self._cond:
            return self._cond.wait_for(lambda: len(self.connections) >= count, timeout)

    def close(self) -> None:
        self._closed.set()
        self._acceptor.join(timeout=2)
        for client in list(self._clients):
            with contextlib.suppress(OSError):
                client.close()
        for t in self._threads:
            t.join(timeout=2)
        self._server.close()

    def __enter__(self) -> SocketPrinter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # serving ----------------------------------------------------------------------------

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._clients.append(client)
            t = threading.Thread(target=self._serve, args=(client,), daemon=True)
            self._threads.append(t)
            t.start()

    def _serve(self, client: socket.socket) -> None:
        conn = Connection()
        pending = b""
        client.settimeout(0.2)
        try:
            while not self._closed.is_set():
                try:
                    chunk = client.recv(4096)
                except TimeoutError:
                    continue
                except OSError:
                    break
                if not chunk:
                    break
                pending += chunk
                pending = self._consume(client, conn, pending)
                if conn.dropped:
                    break
        finally:
            if conn.dropped:  # a reset, not a polite close: like a printer losing power
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            client.close()
            with self._cond:
                self.connections.append(conn)
                self._cond.notify_all()

    def _consume(self, client: socket.socket, conn: Connection, data: bytes) -> bytes:
        """Split status queries from job bytes; answer queries; return an incomplete tail."""
        i = 0
        state = self.state
        while i < len(data):
            if data[i] == 0x10:
                if len(data) - i < 3:
                    return data[i:]
                if data[i + 1] == 0x04 and data[i + 2] in (1, 2, 3, 4):
                    n = data[i + 2]
                    conn.queries.append(n)
                    i += 3
                    if state is not PrinterState.SILENT:
                        client.sendall(bytes([STATUS_REPLIES[state][n]]))
                    continue
            conn.job.append(data[i])
            i += 1
            if self.after_job is not None:  # e.g. the paper runs out while printing
                self.set_state(self.after_job)
                state, self.after_job = self.after_job, None
            if state is PrinterState.DROP and len(conn.job) >= self.drop_after:
                conn.dropped = True
                return b""
        return b""


@pytest.fixture
def printer_socket() -> Iterator[SocketPrinter]:
    """A printer on 127.0.0.1 in state OK; stopped after the test."""
    printer = SocketPrinter()
    try:
        yield printer
    finally:
        printer.close()


# -- sample receipts --------------------------------------------------------------------------

SAMPLE_TIME = dt.datetime(2026, 11, 24, 10, 32, 5, tzinfo=CHINA_TZ)


def sample_receipt(kind: ReceiptKind, language: str = "zh_CN", *, seq: int = 1) -> Receipt:
    """A realistic receipt of ``kind`` in ``language`` (long titles, CJK punctuation, fines)."""
    zh = language == "zh_CN"
    base = {
        "receipt_no": f"K01-20261124-{seq:04d}",
        "kind": kind,
        "kiosk_id": "K01",
        "issued_at": SAMPLE_TIME,
        "language": language,
        "library_name": "市图书馆" if zh else "City Library",
    }
    reader = {
        "reader_name": "张三" if zh else "Zhang San",
        "card_no_masked": "2000****0017",
        "id_masked": "110***********1234",
        "phone_masked": "138****5678",
    }
    fees_paid = (
        ReceiptLine(
            key="receipt.item.overdue_fine",
            amount=350,
            detail="《红楼梦（上）》，逾期35天" if zh else "Dream of the Red Chamber, 35 days late",
        ),
        ReceiptLine(
            key="receipt.item.lost_item",
            amount=4800,
            detail="《三体》" if zh else "The Three-Body Problem",
        ),
    )
    if kind is ReceiptKind.NEW_CARD:
        return Receipt(
            **base,
            **reader,
            fields=(
                ("receipt.field.category", "receipt.category.adult"),
                ("receipt.field.valid_until", "2029-11-24"),
            ),
            lines=(
                ReceiptLine(key="receipt.item.card_fee", amount=1000),
                ReceiptLine(key="receipt.item.deposit", amount=10000),
            ),
            total=11000,
            payment_method="wechat",
        )
    if kind is ReceiptKind.RENEWAL:
        return Receipt(
            **base,
            **reader,
            fields=(
                ("receipt.field.old_expiry", "2026-12-01"),
                ("receipt.field.new_expiry", "2027-12-01"),
            ),
            lines=(ReceiptLine(key="receipt.item.renewal", amount=1000, params={"months": 12}),),
            total=1000,
            payment_method="alipay",
        )
    if kind is ReceiptKind.REPLACEMENT:
        return Receipt(
            **base,
            **reader,
            fields=(
                ("receipt.field.old_card", "2000****0009"),
                ("receipt.field.old_card_status", "receipt.card_status.lost"),
                ("receipt.field.generation", "2"),
            ),
            lines=(ReceiptLine(key="receipt.item.replacement_fee", amount=1500),),
            total=1500,
            payment_method="cash",
            staff_no="S1024",
        )
    if kind is ReceiptKind.PAYMENT:
        return Receipt(
            **base,
            **reader,
            lines=fees_paid,
            total=5150,
            payment_method="wechat",
            fields=(("receipt.field.fees_owed", "￥0.00"),),
        )
    if kind is ReceiptKind.RETURNS:
        return Receipt(
            **base,
            lines=(
                ReceiptLine(
                    text="红楼梦（上）：脂评汇校本"
                    if zh
                    else "Dream of the Red Chamber, Vol. 1 (annotated edition)",
                    detail_key="receipt.line.returned_on_time",
                ),
                ReceiptLine(
                    text="三体Ⅱ：黑暗森林" if zh else "The Dark Forest",
                    amount=120,
                    detail_key="receipt.line.overdue",
                    params={"days": 12, "amount": 120},
                ),
                ReceiptLine(
                    text="小王子" if zh else "The Little Prince", detail_key="receipt.line.hold"
                ),
                ReceiptLine(text="30000000001234", detail_key="receipt.line.not_on_loan"),
            ),
            total=120,
        )
    if kind is ReceiptKind.VISITOR_PASS:
        return Receipt(
            **base,
            reader_name="李四" if zh else "Li Si",
            phone_masked="139****0000",
            fields=(
                (
                    "receipt.field.purpose",
                    "查阅地方志（1949年以前）" if zh else "Local history research",
                ),
                ("receipt.field.host_department", "古籍部" if zh else "Rare Books"),
                ("receipt.field.valid_until", "2026-11-24 21:00"),
            ),
            qr_data="VP1.AQAAAGdC3aBfAAEAAQ.3q2-7w8h0LmNkYWJjZGVmZ2hpams",
        )
    if kind is ReceiptKind.END_OF_DAY:
        return Receipt(
            **base,
            staff_no="S2001",
            fields=(
                ("receipt.field.business_date", "2026-11-24"),
                ("receipt.field.cash_expected", "￥350.00"),
            ),
            lines=(
                ReceiptLine(
                    key="receipt.item.cards_issued",
                    amount=22000,
                    detail_key="receipt.line.count",
                    params={"count": 2},
                ),
                ReceiptLine(
                    key="receipt.item.cards_renewed",
                    amount=3000,
                    detail_key="receipt.line.count",
                    params={"count": 3},
                ),
                ReceiptLine(
                    key="receipt.item.fees_paid",
                    amount=5150,
                    detail_key="receipt.line.count",
                    params={"count": 1},
                ),
                ReceiptLine(
                    key="receipt.item.by_method", params={"method": "wechat"}, amount=27150
                ),
                ReceiptLine(key="receipt.item.by_method", params={"method": "cash"}, amount=35000),
                ReceiptLine(key="receipt.item.refunds", amount=-10000),
            ),
            total=52150,
        )
    if kind is ReceiptKind.REFUND:
        return Receipt(
            **base,
            **reader,
            fields=(
                (
                    "receipt.field.reason",
                    "注销读者证，退还押金" if zh else "Card cancelled, deposit refunded",
                ),
            ),
            lines=(ReceiptLine(key="receipt.item.deposit_refund", amount=-10000),),
            total=-10000,
            payment_method="cash",
            staff_no="S2001",
        )
    if kind is ReceiptKind.ROSTER:
        names = ["李四", "王五", "欧阳娜娜"] if zh else ["Li Si", "Wang Wu", "Ouyang Nana"]
        return Receipt(
            **base,
            staff_no="S1024",
            fields=(("receipt.field.on_site", "3"),),
            lines=tuple(
                ReceiptLine(
                    text=f"{name}  139****00{i}0",
                    detail_key="receipt.line.checked_in_at",
                    params={"time": f"0{i + 8}:15"},
                )
                for i, name in enumerate(names)
            ),
        )
    raise ValueError(kind)
