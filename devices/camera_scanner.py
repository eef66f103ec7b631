"""A camera scanner: QR codes and barcodes decoded from OpenCV frames with zxing-cpp."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from config.settings import ScannerSection
from devices.scanner import Scanned, ScannerError, ScannerState, ThreadedScanner

log = logging.getLogger(__name__)

FrameSource = Callable[[], Any]
"""Returns one frame (a PIL image or a numpy array), None when no frame came, or raises
``FramesEnded`` when a video file has no more frames."""

FrameOpener = Callable[[], tuple[FrameSource, Callable[[], None]]]
"""Opens the camera: returns (read one frame, release). Raises ScannerError."""

CAMERA_INTERVAL_S = 0.1
"""Pause between decoded frames of a live camera (bounds the CPU spent on decoding)."""

MISSED_FRAMES_OFFLINE = 25
"""This many reads in a row without a frame: the camera is gone; release it and reopen."""


class FramesEnded(Exception):
    """A video file (``scanner.camera_source``) has no more frames."""


def opencv_frames(settings: ScannerSection) -> tuple[FrameSource, Callable[[], None]]:
    """Open ``settings.camera_source`` (a video file or device path) or camera
    ``settings.camera_index`` with OpenCV; frames come as grey numpy arrays.

    Raises ScannerError (``device.scanner.unavailable`` without OpenCV,
    ``device.scanner.camera_unavailable`` when it cannot be opened).
    """
    try:
        import cv2
    except ImportError as err:
        raise ScannerError("device.scanner.unavailable", "OpenCV (cv2) is not installed") from err
    target: str | int = settings.camera_source or settings.camera_index
    is_file = bool(settings.camera_source) and Path(settings.camera_source).is_file()
    try:
        capture = cv2.VideoCapture(target)
        opened = bool(capture.isOpened())
    except cv2.error as err:
        raise ScannerError("device.scanner.camera_unavailable", f"camera {target}: {err}") from err
    if not opened:
        capture.release()
        raise ScannerError("device.scanner.camera_unavailable", f"camera {target} cannot be opened")

    def read() -> Any:
        try:
            ok, frame = capture.read()
        except cv2.error as err:
            raise ScannerError("device.scanner.disconnected", f"camera {target}: {err}") from err
        if not ok or frame is None:
            if is_file:
                raise FramesEnded(str(target))
            return None
        return cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame

    return read, capture.release


class CameraScanner(ThreadedScanner):
    """Decodes QR codes and barcodes from camera frames with zxing-cpp in a reader thread.

    Frames come from OpenCV: camera ``settings.camera_index``, or ``settings.camera_source`` (a
    device path or a video file, which plays once). A code that stays in view is one scan: the
    same text is reported again only after it has been out of view for ``repeat_after_s``. A
    camera that cannot be opened, or stops giving frames, goes offline
    (``device.scanner.camera_unavailable`` / ``device.scanner.disconnected``) and is reopened
    every ``reconnect_interval_s``; a video file that ends goes offline with
    ``device.scanner.camera_ended``. Live frames are decoded every ``interval_s``. ``open_frames`` replaces OpenCV (tests, other backends).
    """

    def __init__(
        self,
        settings: ScannerSection,
        *,
        open_frames: FrameOpener | None = None,
        interval_s: float | None = None,
        repeat_after_s: float = 2.0,
        reconnect_interval_s: float = 2.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        source = f"camera:{settings.camera_source or settings.camera_index}"
        super().__init__(source, thread_name="scanner-camera")
        self._settings = settings
        self._open_frames: FrameOpener = open_frames or (lambda: opencv_frames(settings))
        if interval_s is None:  # a live camera is paced; a video file plays as fast as it decodes
            from_file = bool(settings.camera_source) and Path(settings.camera_source).is_file()
            interval_s = 0.0 if from_file else CAMERA_INTERVAL_S
        self._interval_s = interval_s
        self._repeat_after_s = repeat_after_s
        self._reconnect_s = reconnect_interval_s
        self._monotonic = monotonic
        self._last_seen: dict[str, float] = {}

    def _check_can_start(self) -> None:
        """Raises ScannerError if zxing-cpp is not installed."""
        try:
            import zxingcpp  # noqa: F401
        except ImportError as err:
            raise ScannerError("device.scanner.unavailable", "zxing-cpp is not installed") from err

    def decode_frame(self, frame: Any) -> list[str]:
        """Texts of the codes in one frame, each reported once while it stays in view."""
        import zxingcpp

        now = self._monotonic()
        texts = [r.text for r in zxingcpp.read_barcodes(frame) if r.valid and r.text]
        fresh = [t for t in texts if now - self._last_seen.get(t, -1e18) > self._repeat_after_s]
        for t in texts:
            self._last_seen[t] = now
        self._last_seen = {
            t: seen for t, seen in self._last_seen.items() if now - seen <= self._repeat_after_s
        }
        return list(dict.fromkeys(fresh))

    def _run(self) -> None:
        while not self._stop_event.is_set():
            try:
                read, release = self._open_frames()
            except ScannerError as err:
                log.warning("camera %s: %s", self.source, err.detail)
                self._set_status(ScannerState.OFFLINE, err.message_id, err.detail)
                self._stop_event.wait(self._reconnect_s)
                continue
            self._set_status(ScannerState.ONLINE, "device.scanner.online")
            try:
                ended = self._read_frames(read)
            finally:
                try:
                    release()
                except Exception:  # releasing a vanished camera may fail any way
                    log.debug("releasing %s failed", self.source, exc_info=True)
            if ended:
                return
            self._stop_event.wait(self._reconnect_s)

    def _read_frames(self, read: FrameSource) -> bool:
        """Decode frames until stop, the end of a file (True) or a lost camera (False)."""
        missed = 0
        while not self._stop_event.is_set():
            try:
                frame = read()
                texts = self.decode_frame(frame) if frame is not None else []
            except FramesEnded as end:
                log.info("camera source %s ended", end)
                self._set_status(ScannerState.OFFLINE, "device.scanner.camera_ended", str(end))
                return True
            except Exception as err:  # camera backends raise anything; report, reopen
                log.warning("camera %s failed: %s", self.source, err)
                self._set_status(ScannerState.OFFLINE, "device.scanner.disconnected", str(err))
                return False
            if frame is None:
                missed += 1
                if missed >= MISSED_FRAMES_OFFLINE:
                    self._set_status(ScannerState.OFFLINE, "device.scanner.disconnected",
                                     f"no frame from {self.source}")
                    return False
            else:
                missed = 0
                self._set_status(ScannerState.ONLINE, "device.scanner.online")
            for text in texts:
                log.debug("camera scan %r", text)
                self._emit(Scanned(text, self.source))
            if self._interval_s > 0:
                self._stop_event.wait(self._interval_s)
        return True
