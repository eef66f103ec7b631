"""8. A check-in round trip through the SIP2 adapter against a bare socket exchange.

Measured: ``Sip2Circulation.check_in`` (what ``ReturnService`` calls with an ILS): encoding the
09 with sequence number and checksum (``server_client.sip2.hotcodec``, checked against pysip2's
codec), the exchange over a logged-in TCP connection, checking and decoding the 10, the port's
``CheckinAnswer``; against the test ILS
(``tests/support/test_ils.py``: pysip2's own server, UTF-8, Chinese titles) on 127.0.0.1,
in a process of its own (``python -m bench.sip2 --serve N``): a real ILS is another machine,
and a server sharing this process's GIL would charge the client's Python to both sides unequally.
Baseline: the same server process, a second connection logged in by hand, the same 09 frames
(built beforehand, for other items on loan) written with ``sendall`` and the answer read up to
its CR, nothing encoded or decoded; interleaved with the adapter scan by scan, which of the two
goes first alternating. Target: median ≤ 1.2×.
"""

from __future__ import annotations

import datetime as dt
import socket
import statistics
import subprocess
import sys
import time

from pysip2 import CheckinRequest, LoginRequest, encode_message

from bench.common import ROOT, Result, percentile
from library_core.clock import FixedClock
from library_core.codes import make_item_barcode
from server_client.sip2.circulation import Sip2Circulation
from server_client.sip2.client import Sip2Client, Sip2Login, sip_datetime
from server_client.sip2.wire import Endpoint
from tests.support.test_ils import INSTITUTION, LOCATION, PASSWORD, USER, IlsItem, TestIls

ROUNDS = 1000
WARMUP = 50
TARGET = 1.2
ITEMS = 2 * (ROUNDS + WARMUP)  # every scan returns a different item on loan


def _barcodes() -> list[str]:
    return [make_item_barcode(20_000_000 + i) for i in range(ITEMS)]


def serve() -> None:
    """The test ILS with the bench's loans, until stdin closes (its port on stdout)."""
    with TestIls() as ils:
        for n, barcode in enumerate(_barcodes()):
            ils.items[barcode] = IlsItem(barcode, f"测试图书 {n}", loaned_to="P0001")
        sys.stdout.write(f"{ils.port}\n")
        sys.stdout.flush()
        sys.stdin.read()


def _start_server() -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen([sys.executable, "-m", "bench.sip2", "--serve"], cwd=ROOT,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.strip().isdigit():
        proc.kill()
        raise RuntimeError(f"the test ILS did not start: {line!r}")
    return proc, int(line)


def _us(samples: list[float]) -> str:
    return (f"n={len(samples)} p50={percentile(samples, 50):.0f} us "
            f"p95={percentile(samples, 95):.0f} us mean={statistics.fmean(samples):.0f} us")


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
    proc, port = _start_server()
    try:
        ours, floor, ok = _measure(port, clock, now)
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=10)
    value, baseline = statistics.median(ours), statistics.median(floor)
    ratio = value / baseline
    return [Result(
        "sip2", "check-in round trip via adapter, median", value, "us",
        baseline_name="bare socket, same frames", baseline=baseline, target=f"≤ {TARGET}×",
        met=ratio <= TARGET, valid=ok == ROUNDS,
        notes=[f"adapter {_us(ours)}", f"bare {_us(floor)}",
               f"p95 ratio {percentile(ours, 95) / percentile(floor, 95):.2f}",
               f"{ok}/{ROUNDS} both checked in; test ILS in its own process"])]


def _measure(port: int, clock: FixedClock, now: str) -> tuple[list[float], list[float], int]:
    items = _barcodes()
    adapter_items, bare_items = items[0::2], items[1::2]
    client = Sip2Client(Endpoint("127.0.0.1", port),
                        Sip2Login(USER, PASSWORD, LOCATION, INSTITUTION), clock)
    adapter = Sip2Circulation(client)
    bare = socket.create_connection(("127.0.0.1", port), timeout=5)
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
    perf = time.perf_counter
    for i in range(ROUNDS + WARMUP):
        if i % 2:  # which goes first alternates: neither always follows the other's wake-up
            t0 = perf()
            answer = adapter.check_in(adapter_items[i])
            t1 = perf()
            bare.sendall(frames[i])
            reply = _read_frame(bare)
            t2 = perf()
            mine, theirs = t1 - t0, t2 - t1
        else:
            t0 = perf()
            bare.sendall(frames[i])
            reply = _read_frame(bare)
            t1 = perf()
            answer = adapter.check_in(adapter_items[i])
            t2 = perf()
            mine, theirs = t2 - t1, t1 - t0
        if i >= WARMUP:
            ours.append(mine * 1e6)
            floor.append(theirs * 1e6)
            ok += answer.ok and reply.startswith(b"101")
    client.close()
    bare.close()
    return ours, floor, ok


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        serve()
