"""One SIP2 connection: a TCP (optionally TLS) socket, frames to and from it, sequence numbers,
AY/AZ checksums and the resend handshake (96 from the ILS: we send again; a frame whose
checksum fails: we ask with 97, unless the connection is checksum-lenient).

Encoding and decoding are pysip2's codec (typed models, AY/AZ), except check-in 09/10, the
hot path of every return, which ``hotcodec`` encodes and decodes by hand (same bytes, same
fields; pysip2 whenever a frame is not plainly well-formed). Only the socket, the CR framing
and the resend rule are written here, because pysip2 implements the server side only.
Every exchange has a deadline (``time.monotonic``); a socket error, a timeout or a frame that
cannot be made sense of closes the connection and raises ``IlsUnreachable`` /
``IlsProtocolError``.
"""

from __future__ import annotations

import contextlib
import logging
import math
import socket
import ssl
from dataclasses import dataclass
from time import monotonic
from typing import TypeVar, cast

from pysip2 import (
    CheckinRequest,
    CheckinResponse,
    DecodedMessage,
    RequestACSResend,
    RequestSCResend,
    SIP2ChecksumError,
    SIP2CodecError,
    SIP2UnknownCommand,
    SIPMessage,
    SIPRequest,
    SIPResponse,
    calculate_checksum,
    decode_message,
    encode_message,
)

from server_client.sip2.errors import IlsInvalidValue, IlsProtocolError, IlsUnreachable
from server_client.sip2.hotcodec import (
    PreparedCheckin,
    decode_checkin_response,
    encode_checkin,
)

log = logging.getLogger(__name__)

ResponseT = TypeVar("ResponseT", bound=SIPResponse)

ENCODINGS = ("utf-8", "gb18030", "cp850")
MAX_FRAME = 8192
MAX_RESENDS = 3


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where the ILS listens and how to speak to it."""

    host: str
    port: int
    encoding: str = "utf-8"
    tls: bool = False
    ca_file: str = ""  # "" with tls: the system's CAs
    verify_tls: bool = True
    checksums: bool = True  # AY/AZ error detection on our frames
    checksum_lenient: bool = False  # accept answers whose checksum is wrong (logged)


def fix_checksum(frame: bytes) -> bytes:
    """The frame with its AZ checksum recomputed (lenient mode: the ILS gets it wrong)."""
    body = frame[:-1]
    return body[:-4] + calculate_checksum(body[:-4]).encode("ascii") + b"\r"


class Sip2Wire:
    """A connected SIP2 socket. Not thread-safe: the client serialises exchanges."""

    def __init__(self, endpoint: Endpoint, deadline: float) -> None:
        if endpoint.encoding not in ENCODINGS:
            raise IlsInvalidValue(None, f"encoding {endpoint.encoding!r}")
        self.endpoint = endpoint
        self._seq = -1
        self._buffer = bytearray()
        self._timeout = math.nan  # the socket's timeout as last set (s); NaN: never
        self.lenient_accepted = 0  # answers accepted with a wrong checksum (lenient mode)
        try:
            raw = socket.create_connection((endpoint.host, endpoint.port),
                                           timeout=_left(deadline))
        except OSError as err:
            raise IlsUnreachable(None, f"connect {endpoint.host}:{endpoint.port}: {err}") from err
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock: socket.socket = raw
        if endpoint.tls:
            try:
                ctx = ssl.create_default_context(cafile=endpoint.ca_file or None)
                if not endpoint.verify_tls:
                    ctx.check_hostname = False
                    ctx.verify_mode = ssl.CERT_NONE
                raw.settimeout(_left(deadline))
                self._sock = ctx.wrap_socket(raw, server_hostname=endpoint.host)
            except (OSError, ssl.SSLError) as err:
                raw.close()
                raise IlsUnreachable(None, f"TLS with {endpoint.host}: {err}") from err

    def close(self) -> None:
        with contextlib.suppress(OSError):  # already gone
            self._sock.close()

    # -- one exchange --------------------------------------------------------------------------
    def exchange(self, request: SIPRequest | PreparedCheckin, expect: type[ResponseT],
                 deadline: float) -> ResponseT:
        """Send ``request`` and return the ILS's answer of type ``expect``. A check-in may
        come prepared from its template (``hotcodec.PreparedCheckin``, made for this
        connection's encoding and checksum setting): only the sequence number and checksum
        are then added here.

        A 96 from the ILS resends the same frame; an answer with a bad checksum is asked for
        again with 97 (lenient: recomputed and accepted, logged). Raises IlsInvalidValue
        (nothing sent), IlsUnreachable, IlsProtocolError."""
        self._seq = seq = (self._seq + 1) % 10
        if isinstance(request, tuple):  # PreparedCheckin
            template, raw = request
            frame = template.frame(raw, seq)
        else:
            frame = self.encode(request, seq)
        self._send(frame, deadline)
        try:
            return self._answer(frame, expect, deadline)
        except IlsUnreachable as err:
            err.maybe_delivered = True  # it went out: the ILS may have acted on it
            raise

    def _answer(self, frame: bytes, expect: type[ResponseT], deadline: float) -> ResponseT:
        resends = 0
        while True:
            answer = self._receive(deadline)
            if expect is CheckinResponse:
                hot = decode_checkin_response(answer, encoding=self.endpoint.encoding)
                if hot is not None and (hot[1] == self._seq or hot[1] is None
                                        or not self.endpoint.checksums):
                    return cast(ResponseT, hot[0])  # expect is CheckinResponse
            try:
                decoded = decode_message(answer, encoding=self.endpoint.encoding)
            except SIP2ChecksumError as err:
                if self.endpoint.checksum_lenient:
                    log.warning("SIP2 answer with a wrong checksum accepted (lenient mode): %r",
                                answer[-12:])
                    self.lenient_accepted += 1
                    decoded = self._decode(fix_checksum(answer))
                else:
                    resends += 1
                    if resends > MAX_RESENDS:
                        raise IlsProtocolError(None, "answers keep failing their checksum") from err
                    log.info("SIP2 answer failed its checksum: asking for it again (97)")
                    self._send(encode_message(RequestACSResend(), checksum=True,
                                              encoding=self.endpoint.encoding), deadline)
                    continue
            except (SIP2CodecError, SIP2UnknownCommand) as err:
                raise IlsProtocolError(None, f"unreadable answer: {err}") from err
            message = decoded.message
            if isinstance(message, RequestSCResend):
                resends += 1
                if resends > MAX_RESENDS:
                    raise IlsProtocolError(None, "the ILS keeps asking for a resend (96)")
                log.info("the ILS asked for a resend (96): sending the frame again")
                self._send(frame, deadline)
                continue
            if (self.endpoint.checksums and decoded.sequence_number is not None
                    and decoded.sequence_number != self._seq):
                log.info("SIP2 answer for sequence %s ignored (waiting for %s)",
                         decoded.sequence_number, self._seq)
                continue  # a late answer to an earlier frame
            if not isinstance(message, expect):
                raise IlsProtocolError(None, f"expected {expect.__name__}, got "
                                             f"{type(message).__name__}")
            return message

    def encode(self, request: SIPRequest, seq: int) -> bytes:
        try:
            if isinstance(request, CheckinRequest):
                frame = encode_checkin(request, seq if self.endpoint.checksums else None,
                                       checksum_on=self.endpoint.checksums,
                                       encoding=self.endpoint.encoding)
                if frame is not None:
                    return frame
            return encode_message(request, sequence_number=seq if self.endpoint.checksums else None,
                                  checksum=self.endpoint.checksums,
                                  encoding=self.endpoint.encoding)
        except SIP2CodecError as err:
            raise IlsInvalidValue(None, str(err)) from err
        except UnicodeEncodeError as err:
            raise IlsInvalidValue(None, f"not encodable in {self.endpoint.encoding}") from err

    def _decode(self, frame: bytes) -> DecodedMessage[SIPMessage]:
        try:
            return decode_message(frame, encoding=self.endpoint.encoding)
        except (SIP2CodecError, SIP2UnknownCommand, SIP2ChecksumError) as err:
            raise IlsProtocolError(None, f"unreadable answer: {err}") from err

    # -- bytes ---------------------------------------------------------------------------------
    def _send(self, frame: bytes, deadline: float) -> None:
        try:
            left = deadline - monotonic()
            if not left - 0.010 <= self._timeout <= left:  # see _limit (inlined: hot path)
                self._limit(deadline)
            self._sock.sendall(frame)
        except OSError as err:  # socket.timeout is an OSError
            raise IlsUnreachable(None, f"send: {err}") from err

    def _receive(self, deadline: float) -> bytes:
        if not self._buffer:  # the usual case: one answer in one segment, nothing before it
            data = self._recv(deadline)
            if data.find(b"\r") == len(data) - 1 and data[:1] != b"\n" and len(data) > 1:
                return data
            self._buffer += data
        while True:
            cr = self._buffer.find(b"\r")
            if cr != -1:
                frame = bytes(self._buffer[: cr + 1])
                del self._buffer[: cr + 1]
                stripped = frame.lstrip(b"\n")  # some ILSs send CR LF: the LF starts the next
                if len(stripped) > 1:
                    return stripped
                continue
            if len(self._buffer) > MAX_FRAME:
                raise IlsProtocolError(None, "frame longer than 8192 bytes")
            self._buffer += self._recv(deadline)

    def _limit(self, deadline: float) -> None:
        """Keep the socket's timeout within the time left, never beyond it and at most 10 ms
        short of it. ``settimeout`` is a system call: on the hot path (a quick exchange after
        a quick one) the timeout already set fits and none is made (``_send`` and ``_recv``
        test that first: once set, the timeout is above 0, so a fit means time is left)."""
        left = _left(deadline)
        if not left - 0.010 <= self._timeout <= left:
            self._timeout = left - 0.005 if left > 0.01 else left
            self._sock.settimeout(self._timeout)

    def _recv(self, deadline: float) -> bytes:
        try:
            left = deadline - monotonic()
            if not left - 0.010 <= self._timeout <= left:
                self._limit(deadline)
            data = self._sock.recv(4096)
        except TimeoutError as err:
            raise IlsUnreachable(None, "no answer in time") from err
        except OSError as err:
            raise IlsUnreachable(None, f"receive: {err}") from err
        if not data:
            raise IlsUnreachable(None, "the ILS closed the connection")
        return data


def _left(deadline: float) -> float:
    left = deadline - monotonic()
    if left <= 0:
        raise IlsUnreachable(None, "no answer in time")
    return left
