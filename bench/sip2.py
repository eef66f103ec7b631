"""8. A check-in round trip through the SIP2 adapter against a bare socket exchange.

Measured: ``Sip2Circulation.check_in`` (what ``ReturnService`` calls with an ILS): encoding the
09 with sequence number and checksum (``server_client.sip2.hotcodec``, checked against pysip2's
codec), the exchange over a logged-in TCP connection, checking and decoding the 10, the port's
``CheckinAnswer``; against the test ILS
(``tests/support/test_ils.py``: pysip2's own server, UTF-8, Chinese titles) on 127.0.0.1.
Baseline: the same server, a second connection logged in by hand, the same 09 frames (built
beforehand, for other items on loan) written with ``sendall`` and the answer read up to its CR,
nothing encoded or decoded; interleaved with the adapter scan by scan. Target: median ≤ 1.2×.
"""

from __future__ import annotations

import datetime as dt
import socket
import statistics
import time

from pysip2 import CheckinRequest, LoginRequest, encode_message

from bench.common import Result, percentile, summary_ms
from library_core.clock import FixedClock
from library_core.codes import make_item_barcode
from server_client.sip2.circulation import Sip2Circulation
from server_client.sip2.client import Sip2Client, Sip2Login, sip_datetime
from server_client.sip2.wire import Endpoint
from tests.support.test_ils import INSTITUTION, LOCATION, PASSWORD, USER, IlsItem, TestIls

ROUNDS = 300
WARMUP = 20
TARGET = 1.2


def _read_frame(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\r"):
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def run() -> list[Result]:
    clock = FixedClock(dt.datetime(2026, 12, 1, 10, 0))
    now = sip_datetime(clock.now())
    with TestIls() as ils:
        items = [make_item_barcode(20_000_000 + i) for i in range(2 * (ROUNDS + WARMUP))]
        for n, barcode in enumerate(items):
            ils.items[barcode] = IlsItem(barcode, f"测试图书 {n}", loaned_to="P0001")
        adapter_items, bare_items = items[0::2], items[1::2]
        client = Sip2Client(Endpoint("127.0.0.1", ils.port),
                            Sip2Login(USER, PASSWORD, LOCATION, INSTITUTION), clock)
        adapter = Sip2Circulation(client)
        bare = socket.create_connection(("127.0.0.1", ils.port), timeout=5)
        bare.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        bare.sendall(encode_message(LoginRequest(uid_algorithm="0", pwd_algorithm="0",
                                                 login_user_id=USER, login_password=PASSWORD,
                                                 location_code=LOCATION),
                                    sequence_number=0, checksum=True, encoding="utf-8"))
        assert _read_frame(bare).startswith(b"941")
        frames = [encode_message(CheckinRequest(
            no_block="N", transaction_date=now, return_date=now, current_location=LOCATION,
            institution_id=INSTITUTION, item_identifier=b, terminal_password=""),
            sequence_number=(i + 1) % 10, checksum=True, encoding="utf-8")
            for i, b in enumerate(bare_items)]
        ours: list[float] = []
        floor: list[float] = []
        ok = 0
        for i in range(ROUNDS + WARMUP):
            t0 = time.perf_counter()
            answer = adapter.check_in(adapter_items[i])
            t1 = time.perf_counter()
            bare.sendall(frames[i])
            reply = _read_frame(bare)
            t2 = time.perf_counter()
            if i >= WARMUP:
                ours.append((t1 - t0) * 1000)
                floor.append((t2 - t1) * 1000)
                ok += answer.ok and reply.startswith(b"101")
        client.close()
        bare.close()
    value, baseline = statistics.median(ours), statistics.median(floor)
    ratio = value / baseline
    return [Result(
        "sip2", "check-in round trip via adapter, median", value, "ms",
        baseline_name="bare socket, same frames", baseline=baseline, target=f"≤ {TARGET}×",
        met=ratio <= TARGET, valid=ok == ROUNDS,
        notes=[f"adapter {summary_ms(ours)}", f"bare {summary_ms(floor)}",
               f"p95 ratio {percentile(ours, 95) / percentile(floor, 95):.2f}",
               f"{ok}/{ROUNDS} both checked in"])]
