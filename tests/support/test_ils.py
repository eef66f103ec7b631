"""A small library system (ILS) on pysip2's real SIP2 server, on 127.0.0.1, for the tests.

Patrons (name, password, fines, block), items (Chinese titles), loans and holds; it answers
login 93, SC status 99, patron status 23 and information 63, check-in 09 (alert, sort bin, hold
shelf, screen messages, print lines), fee paid 37 (our transaction id kept, a repeat not
applied twice), block patron 01, renew 29 and end session 35. ``fault(code, kind)`` makes the
next frame of that command misbehave once: ``resend`` (answer 96), ``drop`` (close the
connection on it), ``late`` (answer after ``late_s``), ``held`` (answer only once
``release_held()`` is called: a late answer with no clock in it), ``bad_checksum`` (the answer's AZ wrong;
a 97 gets the right one), ``malformed`` (the answer's 14 patron status flags sent as ``N``, which
SIP2 does not allow, its checksum right: a 64 that is well framed but not valid). ``refuse_login`` answers 94 with ok=0; ``refuse_payments`` (a screen message) refuses the next 37. ``frames`` keeps every frame
received, as bytes, for an independent checksum check.

Use the ``test_ils`` fixture (UTF-8) or ``with TestIls(encoding="gb18030") as ils:``.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import anyio
import pytest
from anyio.abc import SocketAttribute
from anyio.from_thread import BlockingPortal, start_blocking_portal
from anyio.streams.tls import TLSListener
from pysip2 import (
    BLOCK_PATRON,
    CHECKIN,
    END_PATRON_SESSION,
    FEE_PAID,
    LOGIN,
    PATRON_INFORMATION,
    PATRON_STATUS,
    RENEW,
    BlockPatronRequest,
    CheckinRequest,
    CheckinResponse,
    EndPatronSessionRequest,
    EndSessionResponse,
    FeePaidRequest,
    FeePaidResponse,
    LoginRequest,
    LoginResponse,
    PatronInformationRequest,
    PatronInformationResponse,
    PatronStatusRequest,
    PatronStatusResponse,
    RenewRequest,
    RenewResponse,
    SIP2Server,
    calculate_checksum,
)

from library_core.codes import make_item_barcode

USER, PASSWORD, LOCATION, INSTITUTION = "kiosk01", "sip-pass-01", "K01", "CITYLIB"
# item barcodes as the kiosk's scan parser knows them (library_core.codes)
ON_LOAN, ON_HOLD, OVERDUE, ON_SHELF, OTHER = (make_item_barcode(10_010_000_000 + i)
                                              for i in range(1, 6))
UNKNOWN_ITEM = make_item_barcode(999_999_001)  # valid, but the ILS has no such item
HOLD_BIN = "HOLD"


@dataclass
class IlsFine:
    fine_id: str
    amount: int  # fen
    title: str


@dataclass
class IlsPatron:
    patron_id: str
    name: str
    password: str = ""
    fines: list[IlsFine] = field(default_factory=list)
    blocked: str = ""  # the block message ("" not blocked)
    status: str = ""  # the 14 patron status flags as sent ("": from ``blocked``)
    messages: list[str] = field(default_factory=list)  # screen messages (AF) on 64
    print_lines: list[str] = field(default_factory=list)  # print lines (AG) on 64

    @property
    def owed(self) -> int:
        return sum(f.amount for f in self.fines)


@dataclass
class IlsItem:
    barcode: str
    title: str
    loaned_to: str = ""
    overdue_fine: int = 0  # fen charged when it comes back
    hold_for: str = ""  # a patron waiting for it: goes to the hold shelf
    sort_bin: str = "A1"


def _fen(text: str) -> int:
    yuan, _, cents = text.partition(".")
    return int(yuan) * 100 + int((cents + "00")[:2])


def _amount(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def _corrupt(frame: bytes) -> bytes:
    """The frame with a wrong AZ checksum."""
    wrong = b"0000" if frame[-5:-1] != b"0000" else b"0001"
    return frame[:-5] + wrong + b"\r"


def _checksummed(frame: bytes) -> bytes:
    """The frame with its AZ checksum made right again (pysip2's own checksum function)."""
    body = frame[:-5]  # up to and including "AZ"
    return body + calculate_checksum(body).encode("ascii") + b"\r"


HELD_LIMIT_S = 120.0


class _FaultyServer(SIP2Server):
    """pysip2's server with the faults a test asks for, one frame at a time."""

    def __init__(self, ils: TestIls, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ils = ils

    async def _process_frame(self, stream: Any, state: Any, frame: bytes) -> None:
        fault = self.ils._received(frame)
        if fault == "resend":
            await self._send_96(stream, state)
            return
        if fault == "drop":
            await stream.aclose()
            return
        if fault == "late":
            await anyio.sleep(self.ils.late_s)
        if fault == "held":
            with anyio.fail_after(HELD_LIMIT_S):  # bounded: a test that never releases fails
                while not self.ils._released.is_set():
                    await anyio.sleep(0.01)
        if fault == "bad_checksum" and frame.startswith(b"97") and state.last_response:
            await stream.send(_corrupt(state.last_response))  # the replay wrong again
            return
        if fault == "bad_checksum":
            self.ils._corrupt_next = True
        if fault == "malformed":
            self.ils._malform_next = True
        await super()._process_frame(stream, state, frame)

    async def _send(self, stream: Any, state: Any, frame: bytes) -> None:
        if self.ils._malform_next and frame[:2] in (b"24", b"64"):
            self.ils._malform_next = False
            frame = _checksummed(frame[:2] + b"N" * 14 + frame[16:])
        if self.ils._corrupt_next and frame[-7:-5] == b"AZ":
            self.ils._corrupt_next = False
            await stream.send(_corrupt(frame))
            state.last_response = frame  # a 97 then gets the right frame
            return
        await super()._send(stream, state, frame)


class TestIls:
    """See the module docstring."""

    __test__ = False

    def __init__(self, *, encoding: str = "utf-8", tls: ssl.SSLContext | None = None) -> None:
        self.encoding = encoding
        self.tls = tls
        self.late_s = 4.0
        self._released = threading.Event()  # ``held`` answers go once this is set
        self.refuse_login = False
        self.refuse_payments = ""  # the next 37 is refused with this screen message
        self.lock = threading.Lock()
        self.frames: list[bytes] = []
        self.faults: dict[str, list[str]] = {}
        self.payments: dict[str, tuple[str, int]] = {}  # BK transaction id -> patron, fen
        self.checkins: list[str] = []
        self.logins = 0
        self._corrupt_next = False
        self._malform_next = False
        self.patrons: dict[str, IlsPatron] = {}
        self.items: dict[str, IlsItem] = {}
        self.port = 0
        self._portal: BlockingPortal | None = None
        self._portal_cm: Any = None
        self._serve_cm: Any = None
        self.server = _FaultyServer(self, encoding=encoding, institution_id=INSTITUTION,
                                    library_name="City Library" if encoding == "cp850" else "市图书馆",
                                    login_required=True)
        self._routes()
        self.seed()

    def seed(self) -> None:
        """Two patrons, loans of Chinese titles, a hold, a fine."""
        self.patrons = {
            "P0001": IlsPatron("P0001", "张三", "1234", [IlsFine("F1", 350, "红楼梦 逾期")]),
            "P0002": IlsPatron("P0002", "李四"),
            "P0003": IlsPatron("P0003", "Jürgen Müller"),  # a name cp850 can carry
        }
        self.items = {
            ON_LOAN: IlsItem(ON_LOAN, "红楼梦", loaned_to="P0001"),
            ON_HOLD: IlsItem(ON_HOLD, "三体", loaned_to="P0001",
                                      hold_for="P0002"),
            OVERDUE: IlsItem(OVERDUE, "围城", loaned_to="P0002",
                                      overdue_fine=150),
            ON_SHELF: IlsItem(ON_SHELF, "活着"),  # on the shelf
            OTHER: IlsItem(OTHER, "平凡的世界", loaned_to="P0001"),
        }

    # -- running ---------------------------------------------------------------------------------
    def start(self) -> TestIls:
        self._portal_cm = start_blocking_portal()
        self._portal = self._portal_cm.__enter__()
        self._serve_cm = self._portal.wrap_async_context_manager(self._serve())
        self.port = self._serve_cm.__enter__()
        return self

    def close(self) -> None:
        if self._serve_cm is not None:
            self._serve_cm.__exit__(None, None, None)
            self._serve_cm = None
        if self._portal_cm is not None:
            self._portal_cm.__exit__(None, None, None)
            self._portal_cm = None

    def __enter__(self) -> TestIls:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _serve(self) -> Any:
        from contextlib import asynccontextmanager

        @asynccontextmanager
        async def serve() -> Any:
            listener: Any = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
            port = listener.extra(SocketAttribute.local_port)
            if self.tls is not None:
                listener = TLSListener(listener, self.tls, standard_compatible=False)
            async with anyio.create_task_group() as tg:
                tg.start_soon(listener.serve, self.server._handle_connection)
                try:
                    yield port
                finally:
                    tg.cancel_scope.cancel()

        return serve()

    # -- faults and records ------------------------------------------------------------------------
    def fault(self, command: str, kind: str) -> None:
        """The next frame of ``command`` (``"09"``) gets ``kind`` (once)."""
        with self.lock:
            self.faults.setdefault(command, []).append(kind)

    def release_held(self) -> None:
        """Send the answers held by ``held`` faults (and answer later ones at once)."""
        self._released.set()

    def _received(self, frame: bytes) -> str:
        with self.lock:
            self.frames.append(frame)
            queue = self.faults.get(frame[:2].decode("ascii", "replace"))
            return queue.pop(0) if queue else ""

    def frames_of(self, command: str) -> list[bytes]:
        with self.lock:
            return [f for f in self.frames if f.startswith(command.encode())]

    # -- the handlers ------------------------------------------------------------------------------
    def _routes(self) -> None:
        srv = self.server

        @srv.route(LOGIN)
        async def login(req: LoginRequest, _ctx: Any) -> LoginResponse:
            ok = (not self.refuse_login and req.login_user_id == USER
                  and req.login_password == PASSWORD)
            self.logins += ok
            return LoginResponse(ok="1" if ok else "0")

        @srv.route(PATRON_STATUS)
        async def patron_status(req: PatronStatusRequest, _ctx: Any) -> PatronStatusResponse:
            return self._status(req.patron_identifier, req.transaction_date)

        @srv.route(BLOCK_PATRON)
        async def block(req: BlockPatronRequest, _ctx: Any) -> PatronStatusResponse:
            with self.lock:
                patron = self.patrons.get(req.patron_identifier)
                if patron is not None:
                    patron.blocked = req.blocked_card_message or "blocked"
            return self._status(req.patron_identifier, req.transaction_date)

        @srv.route(PATRON_INFORMATION)
        async def info(req: PatronInformationRequest, _ctx: Any) -> PatronInformationResponse:
            with self.lock:
                p = self.patrons.get(req.patron_identifier)
                charged = tuple(i.barcode for i in self.items.values()
                                if p and i.loaned_to == p.patron_id)
                fines = tuple(f"{f.fine_id} {_amount(f.amount)} {f.title}"
                              for f in (p.fines if p else []))
                return PatronInformationResponse(
                    patron_status=self._flags(p), language="019",
                    transaction_date=req.transaction_date, hold_items_count="0000",
                    overdue_items_count="0000", charged_items_count=f"{len(charged):04d}",
                    fine_items_count=f"{len(fines):04d}", recall_items_count="0000",
                    unavailable_holds_count="0000", institution_id=INSTITUTION,
                    patron_identifier=req.patron_identifier, personal_name=p.name if p else "",
                    valid_patron="Y" if p else "N", currency_type="CNY",
                    fee_amount=_amount(p.owed if p else 0), charged_items=charged,
                    fine_items=fines, valid_patron_password=None if req.patron_password is None
                    else "Y" if p and p.password and req.patron_password == p.password else "N",
                    screen_message=tuple(p.messages) if p else (),
                    print_line=tuple(p.print_lines) if p else ())

        @srv.route(CHECKIN)
        async def checkin(req: CheckinRequest, _ctx: Any) -> CheckinResponse:
            return self._checkin(req)

        @srv.route(FEE_PAID)
        async def fee_paid(req: FeePaidRequest, _ctx: Any) -> FeePaidResponse:
            return self._fee_paid(req)

        @srv.route(RENEW)
        async def renew(req: RenewRequest, _ctx: Any) -> RenewResponse:
            with self.lock:
                item = self.items.get(req.item_identifier or "")
                ok = bool(item and item.loaned_to == req.patron_identifier and not item.hold_for)
                return RenewResponse(
                    ok="1" if ok else "0", renewal_ok="Y" if ok else "N", magnetic_media="N",
                    desensitize="N", transaction_date=req.transaction_date,
                    institution_id=INSTITUTION, patron_identifier=req.patron_identifier,
                    item_identifier=req.item_identifier or "",
                    title_identifier=item.title if item else "",
                    due_date="20270101    235900" if ok else "",
                    screen_message=() if ok else ("不能续借 / cannot be renewed",))

        @srv.route(END_PATRON_SESSION)
        async def end(req: EndPatronSessionRequest, _ctx: Any) -> EndSessionResponse:
            return EndSessionResponse(end_session="Y", transaction_date=req.transaction_date,
                                      institution_id=INSTITUTION,
                                      patron_identifier=req.patron_identifier)

    def _flags(self, p: IlsPatron | None) -> str:
        if p is not None and p.status:
            return p.status
        return ("Y" * 4 + " " * 10) if p is None or p.blocked else " " * 14

    def _status(self, patron_id: str, when: str) -> PatronStatusResponse:
        with self.lock:
            p = self.patrons.get(patron_id)
            return PatronStatusResponse(
                patron_status=self._flags(p), language="019", transaction_date=when,
                institution_id=INSTITUTION, patron_identifier=patron_id,
                personal_name=p.name if p else "", valid_patron="Y" if p else "N",
                currency_type="CNY", fee_amount=_amount(p.owed if p else 0),
                screen_message=(p.blocked,) if p and p.blocked else ())

    def _checkin(self, req: CheckinRequest) -> CheckinResponse:
        with self.lock:
            self.checkins.append(req.item_identifier)
            item = self.items.get(req.item_identifier)
            base = dict(resensitize="Y", magnetic_media="N", transaction_date=req.transaction_date,
                        institution_id=INSTITUTION, item_identifier=req.item_identifier)
            if item is None:
                return CheckinResponse(ok="0", alert="Y", permanent_location="", **base,
                                       screen_message=("无此条码，请交给服务台",
                                                       "Unknown item: please hand it to the desk"))
            if not item.loaned_to:
                return CheckinResponse(ok="0", alert="Y", permanent_location="MAIN", **base,
                                       title_identifier=item.title,
                                       screen_message=("此书未借出，请交给服务台",
                                                       "Not checked out: please hand it to the desk"))
            borrower, item.loaned_to = item.loaned_to, ""
            if item.overdue_fine:
                self.patrons[borrower].fines.append(
                    IlsFine(f"F-{item.barcode}", item.overdue_fine, f"{item.title} 逾期"))
            hold = bool(item.hold_for)
            return CheckinResponse(
                ok="1", alert="Y" if hold else "N", permanent_location="MAIN", **base,
                title_identifier=item.title, sort_bin=HOLD_BIN if hold else item.sort_bin,
                patron_identifier=item.hold_for or None,
                screen_message=("预约书，请放预约架 / On hold: hold shelf",) if hold else (),
                print_line=(f"已还 Returned: {item.title}",
                            *((f"逾期费 Fine: {_amount(item.overdue_fine)}",)
                              if item.overdue_fine else ())))

    def _fee_paid(self, req: FeePaidRequest) -> FeePaidResponse:
        with self.lock:
            p = self.patrons.get(req.patron_identifier)
            amount = _fen(req.fee_amount)
            tid = req.transaction_id or ""
            accepted, message = True, ""
            if self.refuse_payments:
                accepted, message = False, self.refuse_payments
                self.refuse_payments = ""  # once
            elif tid in self.payments:
                pass  # the same payment again: acknowledged, not applied twice
            elif p is None:
                accepted, message = False, "无此读者 / unknown patron"
            elif amount > p.owed:
                accepted, message = False, "金额超过欠费 / more than is owed"
            else:
                self.payments[tid] = (p.patron_id, amount)
                left = amount
                for fine in list(p.fines):
                    take = min(left, fine.amount)
                    fine.amount -= take
                    left -= take
                    if fine.amount == 0:
                        p.fines.remove(fine)
            return FeePaidResponse(
                payment_accepted="Y" if accepted else "N", transaction_date=req.transaction_date,
                institution_id=INSTITUTION, patron_identifier=req.patron_identifier,
                transaction_id=tid or None, screen_message=(message,) if message else ())


@pytest.fixture
def test_ils() -> Iterator[TestIls]:
    with TestIls() as ils:
        yield ils
