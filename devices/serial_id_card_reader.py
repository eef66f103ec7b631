"""The real ID-card reader: a GA 467 SAM reader on a serial port, with pyserial.

One supervised monitor thread owns the port: it opens it, asks for a card every
``poll_interval_s`` (FIND), and when one arrives publishes ``IdCardPresent`` and reads it
(SELECT, READ_BASE: ``IdCardRead`` or ``IdCardReadFailed``); a FIND that says "no card" after
that publishes ``IdCardRemoved``. The status is ``ready`` only once the reader has answered, so
a port that opens with nothing behind it is not a reader. When the port fails or vanishes
(unplugged), or the reader stops answering, the thread closes it, reports ``recovering`` /
``no_reader`` and reopens it every ``reconnect_interval_s`` until it answers again (replugged).

Every answer is awaited for at most ``answer_timeout_s``: no answer is ``IdReaderTimeout``,
part of one ``id_card.truncated``. After a timeout or a damaged answer the port is drained
for one more answer time before the next command, so a late answer is not taken for the next
one; an answer of the wrong shape for its command (a late READ answer to a FIND) is refused as
``id_card.bad_frame`` too. A SELECT or READ failure is checked with a FIND: no card then means
the card was taken away mid-read (``IdCardRemovedError``).

This driver assumes the reader answers FIND with "card found" while a card stays in the field
(readers that halt a read card answer "no card": they publish ``IdCardRemoved`` right after
``IdCardRead``, which the flows take in their stride). Frames and photo bytes are never
logged. pyserial errors are wrapped into ``IdReaderUnavailable`` at this module's edge.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from config.id_card import IdCardSection
from devices import ga467
from devices.id_card import (
    IdCardData,
    IdCardError,
    IdCardPresent,
    IdCardRead,
    IdCardReaderBase,
    IdCardReadError,
    IdCardReadFailed,
    IdCardRemovedError,
    IdReaderProtocolError,
    IdReaderStatus,
    IdReaderTimeout,
    IdReaderUnavailable,
    NoIdCard,
)

log = logging.getLogger(__name__)

READ_CHUNK_S = 0.05  # pyserial's read timeout: how often a wait looks at the clock
MUTE_LIMIT = 3  # answers missed in a row before the reader counts as gone


def _serial() -> Any:
    """pyserial (an optional extra: imported when a serial reader starts)."""
    import serial

    return serial


def _port_errors() -> tuple[type[Exception], ...]:
    # TypeError / AttributeError: pyserial on a port another thread just closed
    return (_serial().SerialException, OSError, TypeError, AttributeError)


class SerialIdCardReader(IdCardReaderBase):
    """A GA 467 resident ID-card reader on a serial port (see the module docstring)."""

    def __init__(self, settings: IdCardSection) -> None:
        super().__init__(settings.port)
        self.settings = settings
        self.answer_timeout_s = settings.answer_timeout_s
        self._port: Any = None
        self._dirty = False  # a late or damaged answer may still be on the line
        self._read_wanted = False
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._io_lock = threading.RLock()

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        _serial()  # fail now, not in the thread, if pyserial is missing
        self._stopping.clear()
        self._thread = threading.Thread(target=self._supervise, name="id-card-monitor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(self.settings.poll_interval_s + 3 * self.answer_timeout_s + 1.0)
            if thread.is_alive():
                log.warning("ID-card monitor thread did not stop in time")
        self._thread = None
        self._close()

    # ---- the port ------------------------------------------------------------------------

    def _open(self) -> None:
        """Open the port. Raises IdReaderUnavailable wrapping pyserial's error."""
        serial = _serial()
        try:
            port = serial.Serial(self.settings.port, self.settings.baudrate, timeout=READ_CHUNK_S,
                                 write_timeout=self.answer_timeout_s)
        except (serial.SerialException, OSError, ValueError) as err:
            raise IdReaderUnavailable(
                "id_card.reader_unavailable", f"cannot open {self.settings.port}: {err}") from err
        with self._io_lock:
            self._port, self._dirty = port, True  # whatever was on the line is not ours

    def _close(self) -> None:
        with self._io_lock:
            port, self._port = self._port, None
        if port is not None:
            try:
                port.close()
            except Exception:  # a vanished port may fail to close any way; it is gone either way
                log.debug("closing %s failed", self.settings.port, exc_info=True)

    def _drain(self, port: Any) -> None:
        """Discard whatever arrives within one answer time (a late answer), then flush."""
        deadline = time.monotonic() + self.answer_timeout_s
        dropped = 0
        while time.monotonic() < deadline and not self._stopping.is_set():
            dropped += len(port.read(max(1, port.in_waiting)))
        port.reset_input_buffer()
        if dropped:
            log.info("dropped %d late bytes from %s", dropped, self.settings.port)
        self._dirty = False

    def _transact(self, command: tuple[int, int]) -> ga467.Answer:
        """Send ``command`` and wait for its answer. Raises IdCardError subclasses."""
        port = self._port
        if port is None:
            raise IdReaderUnavailable("id_card.reader_unavailable", f"{self.settings.port} is not open")
        name = ga467.COMMAND_NAMES[command]
        try:
            if self._dirty:
                self._drain(port)
            port.reset_input_buffer()
            port.write(ga467.build_command(command))
            buffer = b""
            deadline = time.monotonic() + self.answer_timeout_s
            while True:
                frame, buffer = ga467.take_frame(buffer)
                if frame is not None:
                    answer = ga467.parse_answer(frame)
                    log.debug("%s answered 0x%02X (%d data bytes)", name, answer.sw3, len(answer.data))
                    return answer
                if time.monotonic() >= deadline or self._stopping.is_set():
                    if buffer:
                        raise IdReaderProtocolError(
                            "id_card.truncated", f"{name}: {len(buffer)} bytes, then nothing")
                    raise IdReaderTimeout("id_card.timeout", f"{name}: no answer in {self.answer_timeout_s}s")
                buffer += port.read(max(1, port.in_waiting))
        except IdReaderProtocolError:
            self._dirty = True
            raise
        except IdReaderTimeout:
            self._dirty = True
            raise
        except _port_errors() as err:
            raise IdReaderUnavailable("id_card.reader_unavailable", f"{self.settings.port}: {err}") from err

    # ---- reading a card ----------------------------------------------------------------------

    def _find(self) -> bool:
        return ga467.card_found(self._transact(ga467.FIND))

    def _read_once(self) -> IdCardData:
        """FIND, SELECT, READ_BASE. Raises IdCardError subclasses."""
        with self._io_lock:
            if not self._find():
                raise NoIdCard("id_card.no_card", "no card on the reader")
            try:
                answer = self._transact(ga467.SELECT)
                if answer.sw3 != ga467.Status.OK:
                    raise ga467.status_error(answer.sw3, ga467.SELECT)
                answer = self._transact(ga467.READ_BASE)
                if answer.sw3 != ga467.Status.OK:
                    raise ga467.status_error(answer.sw3, ga467.READ_BASE)
            except (IdCardReadError, NoIdCard) as err:
                if not self._find():
                    raise IdCardRemovedError("id_card.removed", f"card left during the read ({err.detail})") from err
                raise
            return ga467.decode_base_info(answer.data)

    def read_card(self) -> IdCardData:
        return self._read_once()

    def request_read(self) -> None:
        self._read_wanted = True

    def _publish_read(self) -> None:
        try:
            card = self._read_once()
        except IdReaderUnavailable:
            raise
        except IdCardError as err:
            self._emit(IdCardReadFailed(err, self.reader_name))
        else:
            self._emit(IdCardRead(card, self.reader_name))

    # ---- the monitor thread ------------------------------------------------------------------

    def _supervise(self) -> None:
        while not self._stopping.is_set():
            try:
                self._open()
            except IdReaderUnavailable as err:
                self._outage("no_reader", err.detail)
            else:
                try:
                    self._watch()
                except IdReaderUnavailable as err:
                    log.warning("ID-card reader lost: %s", err.detail)
                    self._outage("recovering", err.detail)
                except Exception as err:  # supervise: whatever broke, reopen the port
                    log.exception("ID-card monitor failed")
                    self._outage("recovering", f"{type(err).__name__}: {err}")
                finally:
                    self._close()
            self._stopping.wait(self.settings.reconnect_interval_s)
        log.debug("ID-card monitor stopped")

    def _outage(self, state: str, detail: str) -> None:
        self._card_gone()
        self._emit(IdReaderStatus("no_reader" if state == "no_reader" else "recovering", detail))

    def _watch(self) -> None:
        missed = 0
        while not self._stopping.is_set():
            try:
                with self._io_lock:
                    found = self._find()
            except (IdReaderTimeout, IdReaderProtocolError) as err:
                missed += 1
                if missed >= MUTE_LIMIT:
                    raise IdReaderUnavailable("id_card.reader_unavailable",
                                              f"{missed} answers missed: {err.detail}") from err
                continue
            missed = 0
            self._emit(IdReaderStatus("ready", self.settings.port))
            if found and not self._present:
                self._read_wanted = False
                self._emit(IdCardPresent(self.reader_name))
                self._publish_read()
            elif found and self._read_wanted:
                self._read_wanted = False
                self._publish_read()
            elif not found:
                self._card_gone()
            self._stopping.wait(self.settings.poll_interval_s)
