"""The camera scanner on real OpenCV: a video file (MJPG in .avi, written with cv2.VideoWriter)
whose frames show a printed visitor pass and an item barcode, played through ``CameraScanner``
as ``build_scanner`` makes it from config; and a camera that cannot be opened.

The pass is the real one: ``encode_visitor_pass`` makes its text, the receipt printer's ESC/POS
encoder prints it as a native QR, and the receipt preview draws the printed paper.
"""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
import zxingcpp
from PIL import Image

from config.settings import ScannerSection, load_settings
from devices.camera_scanner import CameraScanner
from devices.escpos_output import encode_blocks
from devices.factory import build_scanner
from devices.receipt_preview import render_png
from devices.receipt_text import QrBlock
from devices.scanner import Scanned, ScannerState, ScannerStatus
from library_core.codes import make_item_barcode
from library_core.errors import ConfigError
from library_core.tokens import VisitorPass, encode_visitor_pass

KEY = b"camera-test-library-key-0123456789"
FRAME_W, FRAME_H = 640, 480
PASS = encode_visitor_pass(
    VisitorPass(kiosk_no=1, visit_no=42, expires_at=dt.datetime(2026, 11, 24, 13, tzinfo=dt.UTC)),
    KEY)
ITEM = make_item_barcode(987)


def _printed_pass() -> Image.Image:
    """The visitor pass QR as the 80 mm receipt printer prints it (cropped to the code)."""
    paper = render_png(encode_blocks([QrBlock(PASS, module=6)]), 576).convert("L")
    box = Image.eval(paper, lambda v: 255 - v).getbbox()
    assert box is not None
    left, top, right, bottom = box
    return paper.crop((left - 24, top - 24, right + 24, bottom + 24))


def _item_label() -> Image.Image:
    code = zxingcpp.create_barcode(ITEM, zxingcpp.BarcodeFormat.Code128)
    label = code.to_image(scale=3, add_quiet_zones=True)
    return Image.fromarray(np.asarray(label)).convert("L").resize((420, 120))


def _frame(shown: Image.Image | None) -> np.ndarray:
    """One BGR camera frame: a grey desk, and the paper held up in the middle if ``shown``."""
    canvas = Image.new("L", (FRAME_W, FRAME_H), 128)
    if shown is not None:
        canvas.paste(shown, ((FRAME_W - shown.width) // 2, (FRAME_H - shown.height) // 2))
    grey = np.asarray(canvas)
    return np.ascontiguousarray(np.stack([grey, grey, grey], axis=2))


def _video(path: Path, scenes: list[tuple[Image.Image | None, int]]) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 10, (FRAME_W, FRAME_H))
    assert writer.isOpened()
    for shown, frames in scenes:
        frame = _frame(shown)
        for _ in range(frames):
            writer.write(frame)
    writer.release()
    return path


def _play(settings: ScannerSection) -> tuple[list[Scanned], list[ScannerStatus]]:
    """Run the scanner that config builds until the file ends; its scans and statuses."""
    scanner = build_scanner(settings)
    assert isinstance(scanner, CameraScanner)
    scans: list[Scanned] = []
    statuses: list[ScannerStatus] = []
    ended = threading.Event()

    def on_event(event: object) -> None:
        if isinstance(event, Scanned):
            scans.append(event)
        elif isinstance(event, ScannerStatus):
            statuses.append(event)
            if event.message_id in ("device.scanner.camera_ended",
                                    "device.scanner.camera_unavailable"):
                ended.set()

    scanner.subscribe(on_event)
    scanner.start()
    try:
        assert ended.wait(60), statuses
    finally:
        scanner.stop()
    return scans, statuses


def _camera_settings(tmp_path: Path, source: str) -> ScannerSection:
    """The scanner section as a kiosk.toml on disk loads it (camera_source set)."""
    config = tmp_path / "kiosk.toml"
    config.write_text(f'[kiosk]\nmode = "demo"\n\n[scanner]\ntype = "camera"\n'
                      f'camera_source = "{source}"\n', encoding="utf-8")
    (tmp_path / "fees.toml").write_text(
        (Path(__file__).resolve().parents[2] / "config" / "fees.toml").read_text("utf-8"),
        encoding="utf-8")
    return load_settings(config, env={}).scanner


def test_a_pass_held_up_to_the_camera_is_one_scan(tmp_path: Path) -> None:
    video = _video(tmp_path / "desk.avi", [(None, 5), (_printed_pass(), 12), (None, 5),
                                           (_item_label(), 8), (None, 3)])
    scans, statuses = _play(_camera_settings(tmp_path, str(video)))
    source = f"camera:{video}"
    assert scans == [Scanned(PASS, source), Scanned(ITEM, source)]
    assert statuses[-2].state is ScannerState.OFFLINE
    assert statuses[-2].message_id == "device.scanner.camera_ended"
    assert statuses[-1].state is ScannerState.STOPPED


def test_blank_frames_are_no_scan(tmp_path: Path) -> None:
    video = _video(tmp_path / "empty.avi", [(None, 20)])
    scans, statuses = _play(_camera_settings(tmp_path, str(video)))
    assert scans == []
    assert [s.message_id for s in statuses][:3] == [
        "device.scanner.stopped", "device.scanner.online", "device.scanner.camera_ended"]


def test_a_camera_that_cannot_be_opened_goes_offline_saying_so(tmp_path: Path) -> None:
    scans, statuses = _play(ScannerSection(type="camera", camera_index=63))
    assert scans == []
    offline = [s for s in statuses if s.state is ScannerState.OFFLINE]
    assert offline and offline[0].message_id == "device.scanner.camera_unavailable"
    assert offline[0].detail == "camera 63 cannot be opened"
    assert offline[0].source == "camera:63"


def test_a_missing_video_file_is_an_unavailable_camera(tmp_path: Path) -> None:
    missing = tmp_path / "nothing.avi"
    scans, statuses = _play(ScannerSection(type="camera", camera_source=str(missing)))
    assert scans == []
    assert statuses[1].message_id == "device.scanner.camera_unavailable"
    assert str(missing) in statuses[1].detail


def test_a_negative_camera_index_is_refused_at_config_load(tmp_path: Path) -> None:
    config = tmp_path / "kiosk.toml"
    config.write_text('[kiosk]\nmode = "demo"\n\n[scanner]\ntype = "camera"\ncamera_index = -1\n',
                      encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(config, env={})
    assert info.value.key == "scanner.camera_index"
