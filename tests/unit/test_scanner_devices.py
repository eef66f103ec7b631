"""Simulated and camera scanners, the serial line splitter, and building a scanner from config."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import qrcode
from PIL import Image

from config.settings import ScannerSection
from devices.camera_scanner import CameraScanner
from devices.factory import build_scanner
from devices.scanner import Scanned, ScannerState, ScannerStatus
from devices.serial_scanner import LineSplitter
from devices.simulated_scanner import SimulatedScanner
from devices.wedge_scanner import KeyboardWedgeScanner
from library_core.errors import ConfigError


def test_simulated_scanner_delivers_scans_only_while_started() -> None:
    scanner = SimulatedScanner()
    got: list[object] = []
    scanner.subscribe(got.append)
    assert got == [ScannerStatus(ScannerState.STOPPED, "simulated", "device.scanner.stopped")]
    assert scanner.scan("S10234") is False
    scanner.start()
    assert scanner.scan("S10234") is True
    scanner.disconnect()
    assert scanner.scan("S10235") is False
    assert got[1:] == [
        ScannerStatus(ScannerState.ONLINE, "simulated", "device.scanner.online"),
        Scanned("S10234", "simulated"),
        ScannerStatus(ScannerState.OFFLINE, "simulated", "device.scanner.disconnected",
                      "simulated unplug"),
    ]


def test_events_are_frozen() -> None:
    event = Scanned("S10234", "simulated")
    with pytest.raises(AttributeError):
        event.text = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("terminator", "chunks", "lines"),
    [
        ("CR", [b"AB\rC", b"D\r"], [b"AB", b"CD"]),
        ("LF", [b"AB\nCD\n"], [b"AB", b"CD"]),
        ("CRLF", [b"AB\r", b"\nCD\r\n"], [b"AB", b"CD"]),
        ("CRLF", [b"A\rB\r\n"], [b"A\rB"]),
        ("ANY", [b"AB\r", b"\nCD\n\rEF\r"], [b"AB", b"CD", b"EF"]),
        ("CR", [b"AB\r\nCD\r\n"], [b"AB", b"CD"]),
        ("ANY", [b"\r\n\r\n"], []),
    ],
)
def test_line_splitter(terminator: str, chunks: list[bytes], lines: list[bytes]) -> None:
    splitter = LineSplitter(terminator)
    got: list[bytes] = []
    for chunk in chunks:
        got += splitter.feed(chunk)
    assert got == lines


def test_line_splitter_drops_a_runaway_line() -> None:
    splitter = LineSplitter("CR", max_bytes=16)
    assert splitter.feed(b"x" * 20) == []
    assert splitter.feed(b"S1\r") == [b"S1"]  # the runaway part is gone, the next scan is clean


def test_line_splitter_refuses_an_unknown_terminator() -> None:
    with pytest.raises(ConfigError) as info:
        LineSplitter("TAB")
    assert info.value.key == "scanner.terminator"


@pytest.mark.parametrize(
    ("scanner_type", "cls"),
    [("wedge", KeyboardWedgeScanner), ("simulated", SimulatedScanner), ("camera", CameraScanner)],
)
def test_build_scanner_by_type(scanner_type: str, cls: type) -> None:
    assert isinstance(build_scanner(ScannerSection(type=scanner_type)), cls)  # type: ignore[arg-type]


def test_build_scanner_refuses_unknown_type_and_a_serial_without_port() -> None:
    with pytest.raises(ConfigError) as info:
        build_scanner(ScannerSection(type="laser"))  # type: ignore[arg-type]
    assert info.value.key == "scanner.type"
    with pytest.raises(ConfigError) as info:
        build_scanner(ScannerSection(type="serial", port=""))
    assert info.value.key == "scanner.port"


def _qr(text: str) -> Image.Image:
    img = qrcode.make(text, box_size=6, border=4).get_image()
    return img.convert("L")


def _noop() -> None:
    """Releases nothing (frames from a list, not a camera)."""


class FakeTime:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_camera_decodes_a_qr_once_while_it_stays_in_view() -> None:
    clock = FakeTime()
    camera = CameraScanner(ScannerSection(type="camera"), open_frames=lambda: (lambda: None, _noop),
                           repeat_after_s=2.0, monotonic=clock)
    frame = _qr("VP1ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    assert camera.decode_frame(frame) == ["VP1ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"]
    clock.t = 1.0
    assert camera.decode_frame(frame) == []  # still held in front of the camera
    clock.t = 2.5
    assert camera.decode_frame(Image.new("L", frame.size, 255)) == []  # taken away
    clock.t = 5.0
    assert camera.decode_frame(frame) == ["VP1ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"]  # shown again


@pytest.fixture
def camera_frames() -> Iterator[tuple[CameraScanner, list[object], threading.Event]]:
    frames = [None, _qr("S10234"), _qr("S10234"), Image.new("L", (200, 200), 255)]
    done = threading.Event()

    def source() -> object:
        if frames:
            return frames.pop(0)
        done.set()
        return None

    camera = CameraScanner(ScannerSection(type="camera"), open_frames=lambda: (source, _noop),
                           interval_s=0.001)
    got: list[object] = []
    camera.subscribe(got.append)
    camera.start()
    yield camera, got, done
    camera.stop()


def test_camera_thread_emits_scans(
    camera_frames: tuple[CameraScanner, list[object], threading.Event],
) -> None:
    camera, got, done = camera_frames
    assert done.wait(10)
    camera.stop()
    assert [e for e in got if isinstance(e, Scanned)] == [Scanned("S10234", "camera:0")]
    assert camera.status.state is ScannerState.STOPPED


def test_camera_frame_errors_go_offline_not_crash() -> None:
    calls = threading.Event()

    def broken() -> object:
        calls.set()
        raise OSError("camera unplugged")

    camera = CameraScanner(ScannerSection(type="camera"), open_frames=lambda: (broken, _noop),
                           interval_s=0.001, reconnect_interval_s=0.001)
    got: list[object] = []
    camera.subscribe(got.append)
    camera.start()
    try:
        assert calls.wait(10)
    finally:
        camera.stop()  # joins the thread, which finishes the failed frame first
    statuses = [e for e in got if isinstance(e, ScannerStatus)]
    assert any(s.state is ScannerState.OFFLINE and s.detail == "camera unplugged" for s in statuses)


def test_scans_from_two_threads_reach_a_subscriber_one_at_a_time_in_order() -> None:
    """Scanner events are delivered in order: a subscriber is never entered by two threads."""
    scanner = SimulatedScanner()
    scanner.start()
    inside = threading.Lock()
    overlaps: list[object] = []
    seen: list[str] = []

    def subscriber(event: object) -> None:
        if not inside.acquire(blocking=False):
            overlaps.append(event)
            return
        try:
            if isinstance(event, Scanned):
                seen.append(event.text)
                if len(seen) % 3 == 0:
                    time.sleep(0.0005)  # widen the window another thread would enter through
        finally:
            inside.release()

    scanner.subscribe(subscriber)
    start = threading.Barrier(2)

    def scan(prefix: str) -> None:
        start.wait()
        for i in range(200):
            scanner.scan(f"{prefix}{i}")

    threads = [threading.Thread(target=scan, args=(p,)) for p in ("A", "B")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert overlaps == []
    for prefix in ("A", "B"):
        assert [s for s in seen if s.startswith(prefix)] == [f"{prefix}{i}" for i in range(200)]


def test_a_new_subscriber_gets_the_status_before_any_later_scan() -> None:
    scanner = SimulatedScanner()
    scanner.start()
    got: list[object] = []
    unsubscribe = scanner.subscribe(got.append)
    scanner.scan("S1")
    unsubscribe()
    scanner.scan("S2")
    assert got == [ScannerStatus(ScannerState.ONLINE, "simulated", "device.scanner.online"),
                   Scanned("S1", "simulated")]
