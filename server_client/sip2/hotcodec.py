"""A hand-written encoder for check-in 09 and decoder for its answer 10: the hot path of every
return at the kiosk.

Why by hand, beside pysip2's codec: profiling the bench (``bench/sip2.py``) showed pysip2's
``encode_message`` (msgspec ``to_builtins`` + strict ``convert`` + the spec walk, ~20 µs) and
``decode_message`` (the generic field walk + ``convert``, ~40 µs) as most of the adapter's
cost over a bare socket exchange. These two functions do the same for the one message pair,
with the same rules, in a few µs. They never decide anything pysip2 would decide differently:
whenever a value or a frame is not plainly well-formed they return ``None`` and the caller uses
pysip2, which then encodes, decodes or raises exactly as before. Every other message is
pysip2's alone. ``tests/unit/test_sip2_hotcodec.py`` checks with hypothesis that both give the
same bytes out and the same fields back, and the frames against the ``sip2`` package's checksum.
"""

from __future__ import annotations

import re
from zlib import adler32

from pysip2 import CheckinRequest, CheckinResponse

_DATE = re.compile(r"[0-9]{8}[A-Z ]{4}[0-9]{6}")  # pysip2's TRANS_DATE

_HEX4 = re.compile(rb"[0-9A-Fa-f]{4}")
_DIG3 = re.compile(r"[0-9]{3}")
_YN = ("Y", "N")
_MAX_VALUE = 255  # encoded bytes


def byte_sum(data: bytes) -> int:
    """The sum of the bytes, in C: Adler-32's first half is 1 + the byte sum mod 65521, exact
    while a chunk is at most 256 bytes (256 * 255 < 65521). Python's ``sum`` over a frame's
    bytes was a tenth of the adapter's own time."""
    if len(data) <= 256:  # a check-in and its answer, nearly always
        return (adler32(data) & 0xFFFF) - 1
    return sum((adler32(data[i:i + 256]) & 0xFFFF) - 1 for i in range(0, len(data), 256))


def checksum(prefix_through_az: bytes) -> bytes:
    """AZ's four hex digits: the two's complement of the byte sum's low 16 bits."""
    return b"%04X" % ((-byte_sum(prefix_through_az)) & 0xFFFF)


def _plain(value: str, encoding: str) -> bool:
    """pysip2's checks on one identified value: no ``|``, CR or NUL, at most 255 bytes encoded.
    (A CR or NUL byte comes only from those characters in UTF-8, GB18030 and cp850.)"""
    if "|" in value or "\r" in value or "\x00" in value:
        return False
    return len(value) <= _MAX_VALUE // 4 or len(value.encode(encoding)) <= _MAX_VALUE


# "AY<n>AZ" for each sequence number, and its byte sum
_AYAZ = tuple(b"AY%dAZ" % n for n in range(10))
_AYAZ_SUM = tuple(sum(t) for t in _AYAZ)


class CheckinTemplate:
    """The 09 frames of one kiosk set-up at one time: the bytes before the item (command,
    flag, dates, AP AO, ``AB``) and after it (AC CH BI), encoded once, with their byte sum, so
    a frame is the item's bytes put in between and a checksum added. Made by
    ``checkin_template`` (None when a value is not plain: pysip2 then decides)."""

    __slots__ = ("after", "before", "checksums", "encoding", "fixed_sum")

    def __init__(self, before: bytes, after: bytes, encoding: str, checksums: bool) -> None:
        self.before = before
        self.after = after
        self.encoding = encoding
        self.checksums = checksums
        self.fixed_sum = byte_sum(before) + byte_sum(after)

    def item_bytes(self, item: str) -> bytes | None:
        """The item as the frame carries it, or None (not plain, or the encoding cannot carry
        it: pysip2 decides, and refuses or raises as it does)."""
        if len(item) <= _MAX_VALUE and item.isascii() and item.isalnum():
            return item.encode("ascii")  # a barcode: the same bytes in all of ENCODINGS
        if not _plain(item, self.encoding):
            return None
        try:
            return item.encode(self.encoding)
        except UnicodeEncodeError:
            return None

    def frame(self, raw: bytes, sequence_number: int) -> bytes:
        """The 09 with the item's bytes ``raw`` (from ``item_bytes``) and, with checksums,
        AY ``sequence_number`` (0-9) and AZ, as pysip2 writes it."""
        if not self.checksums:
            return b"".join((self.before, raw, self.after, b"\r"))
        # AZ: the two's complement of the byte sum through "AZ" (``checksum``); an item of
        # at most 255 bytes is within adler32's exact range (``byte_sum``)
        total = self.fixed_sum + (adler32(raw) & 0xFFFF) - 1 + _AYAZ_SUM[sequence_number]
        return b"".join((self.before, raw, self.after, _AYAZ[sequence_number],
                         b"%04X\r" % (-total & 0xFFFF)))


# a check-in ready for the wire: its template and the item's bytes (a plain tuple: one is made
# per return, and the wire tells it from a pysip2 request by its type)
PreparedCheckin = tuple[CheckinTemplate, bytes]


def checkin_template(no_block: str, transaction_date: str, return_date: str, location: str,
                     institution_id: str, terminal_password: str | None, *,
                     item_properties: str | None = None, cancel: str | None = None,
                     encoding: str, checksums: bool) -> CheckinTemplate | None:
    """The template of the 09 with these fields (all but the item), or None when one of them
    is not plain or the encoding cannot carry it (pysip2 decides which error comes first)."""
    before = (("AP", location), ("AO", institution_id))
    after = (("AC", terminal_password), ("CH", item_properties), ("BI", cancel))
    if not (no_block in _YN and _DATE.fullmatch(transaction_date)
            and _DATE.fullmatch(return_date) and (cancel is None or cancel in _YN)
            and all(v is None or _plain(v, encoding) for _, v in (*before, *after))):
        return None
    head = f"09{no_block}{transaction_date}{return_date}".encode("ascii")
    try:
        return CheckinTemplate(
            head + "".join(f"{f}{v}|" for f, v in before).encode(encoding) + b"AB",
            b"|" + "".join(f"{f}{v}|" for f, v in after if v is not None).encode(encoding),
            encoding, checksums)
    except UnicodeEncodeError:
        return None


_TEMPLATES: dict[tuple[str, str, str, str, str, str, str | None, str | None, str, bool],
                 CheckinTemplate | None] = {}


def encode_checkin(req: CheckinRequest, sequence_number: int | None, *, checksum_on: bool,
                   encoding: str) -> bytes | None:
    """The 09 frame pysip2's ``encode_message`` would write, or ``None`` (ask pysip2: also
    for a value the encoding cannot carry, where pysip2 raises UnicodeEncodeError or, for a
    field before it that is not plain, its own codec error). Templates are kept for the last
    64 set-ups and seconds (the dates make a new one every second); the client's check-in
    keeps its own current one (``Sip2Client.checkin``)."""
    key = (req.no_block, req.transaction_date, req.return_date, req.current_location,
           req.institution_id, req.terminal_password, req.item_properties, req.cancel, encoding,
           checksum_on)
    try:
        template = _TEMPLATES[key]
    except KeyError:
        if len(_TEMPLATES) >= 64:
            _TEMPLATES.clear()
        template = _TEMPLATES[key] = checkin_template(
            req.no_block, req.transaction_date, req.return_date, req.current_location,
            req.institution_id, req.terminal_password, item_properties=req.item_properties,
            cancel=req.cancel, encoding=encoding, checksums=checksum_on)
    if template is None:
        return None
    raw = template.item_bytes(req.item_identifier)
    if raw is None:
        return None
    if checksum_on and (sequence_number is None or not 0 <= sequence_number <= 9):
        return None
    return template.frame(raw, sequence_number or 0)


_SCALARS = {"AO": "institution_id", "AB": "item_identifier", "AQ": "permanent_location",
            "AJ": "title_identifier", "CL": "sort_bin", "AA": "patron_identifier",
            "CK": "media_type", "CH": "item_properties"}
# "10", ok, resensitize, magnetic media, alert, transaction date: pysip2's fixed-field rules
_HEAD = re.compile(rb"10[01][YN][YNU][YN][0-9]{8}[A-Z ]{4}[0-9]{6}")
# The usual answer, in one match of the whole frame: the fixed fields, then each field at
# most once, in the order SIP2 2.00 lists them (pysip2's own, and most ILSs'), then AY/AZ if
# there, and the CR; no CR or NUL before it (ASCII classes: true of the decoded text exactly
# when of the bytes, in the encodings of _WHOLE). Anything else (repeated screen messages,
# other fields, another order) goes field by field. An optional field is written "(?:X|)",
# not "(?:X)?": the same matches, but a branch, which the regex engine runs in about half the
# time of an optional group.
_V = r"([^|\r\x00]*)\|"
_USUAL = re.compile(r"10([01])([YN])([YNU])([YN])([0-9]{8}[A-Z ]{4}[0-9]{6})"
                    rf"AO{_V}AB{_V}AQ{_V}(?:AJ{_V}|)(?:CL{_V}|)(?:AA{_V}|)"
                    rf"(?:CK([0-9]{{3}})\||)(?:CH{_V}|)(?:AF{_V}|)(?:AG{_V}|)"
                    r"(?:AY([0-9])AZ([0-9A-Fa-f]{4})|)\r")
_FIXED = 2 + 4 + 18
# where ASCII bytes (the "|") never occur inside a character: the payload decodes in one go
_WHOLE = ("utf-8", "cp850")


def decode_checkin_response(frame: bytes, *, encoding: str
                            ) -> tuple[CheckinResponse, int | None] | None:
    """``(message, sequence number)`` as pysip2's ``decode_message`` would give them for a 10
    frame (CR included), or ``None`` (ask pysip2: another message, a bad checksum, anything
    not plainly well-formed)."""
    if encoding in _WHOLE:
        try:
            usual = _USUAL.fullmatch(frame.decode(encoding))
        except UnicodeDecodeError:
            return None
        if usual is not None:
            (ok, resensitize, magnetic, alert, date, institution, item, location, title,
             sort_bin, patron, media, properties, screen, printed, sequence,
             given) = usual.groups()
            if given is not None:
                # AZ: the byte sum through "AZ" plus AZ's value is 0 mod 2**16 (``checksum``,
                # inlined: this is once per return)
                through_az = frame[:-5]
                total = ((adler32(through_az) & 0xFFFF) - 1 if len(through_az) <= 256
                         else byte_sum(through_az))
                if (total + int(given, 16)) & 0xFFFF:
                    return None  # a wrong checksum: pysip2 raises it, the wire asks again
            return CheckinResponse(
                ok=ok, resensitize=resensitize, magnetic_media=magnetic, alert=alert,
                transaction_date=date, institution_id=institution, item_identifier=item,
                permanent_location=location, title_identifier=title, sort_bin=sort_bin,
                patron_identifier=patron, media_type=media, item_properties=properties,
                screen_message=() if screen is None else (screen,),
                print_line=() if printed is None else (printed,)
            ), None if sequence is None else ord(sequence) - 0x30
    return _decode_by_fields(frame, encoding)


def _decode_by_fields(frame: bytes, encoding: str) -> tuple[CheckinResponse, int | None] | None:
    """``decode_checkin_response`` for any 10 the usual match does not take."""
    if frame[-1:] != b"\r":
        return None
    body = frame[:-1]
    sequence: int | None = None
    if body[-6:-4] == b"AZ":
        given = body[-4:]
        body = body[:-4]
        if given.upper() == checksum(body):  # hex and right
            body = body[:-2]
            if body[-3:-1] == b"AY" and 0x30 <= body[-1] <= 0x39:
                sequence = body[-1] - 0x30
                body = body[:-3]
        elif _HEX4.fullmatch(given):
            return None  # a wrong checksum: pysip2 raises it, the wire asks again
        else:
            body = frame[:-1]
    if frame.find(b"\r") != len(frame) - 1 or frame.find(b"\x00") != -1:
        return None  # (find, not ``in``: ``bytes in bytes`` first tries it as an int, and raises)
    if _HEAD.match(body) is None:
        return None
    if encoding in _WHOLE:
        try:
            pieces = body[_FIXED:].decode(encoding).split("|")
        except UnicodeDecodeError:
            return None
    elif encoding == "gb18030":
        try:  # a "|" byte can end a GB18030 character: split, then decode
            pieces = [p.decode(encoding) for p in body[_FIXED:].split(b"|")]
        except UnicodeDecodeError:
            return None
    else:
        return None
    message = _message_of_pieces(body[2:_FIXED].decode("ascii"), pieces)  # ASCII: _HEAD
    return None if message is None else (message, sequence)


def _message_of_pieces(fixed: str, pieces: list[str]) -> CheckinResponse | None:
    """The 10 of its fixed fields and ``|``-separated pieces, field by field (repeated AF/AG,
    ids other than ours, any order); None when pysip2 would refuse it."""
    if pieces.pop() != "":
        return None  # the last field has no terminator
    values: dict[str, str] = {}
    screen: list[str] = []
    printed: list[str] = []
    scalar = _SCALARS.get
    for piece in pieces:
        field_id = piece[:2]
        name = scalar(field_id)
        if name is not None:
            if name in values:
                return None  # a duplicate: pysip2 refuses it
            values[name] = piece[2:]
        elif field_id == "AF":
            screen.append(piece[2:])
        elif field_id == "AG":
            printed.append(piece[2:])
        elif len(field_id) < 2 or not field_id.isascii():
            return None  # pysip2 would read a "|" or a non-ASCII byte as a field id
    if ("institution_id" not in values or "item_identifier" not in values
            or "permanent_location" not in values):
        return None  # a required field missing: pysip2 refuses it
    media = values.get("media_type")
    if media is not None and not _DIG3.fullmatch(media):
        return None
    return CheckinResponse(
        ok=fixed[0], resensitize=fixed[1], magnetic_media=fixed[2], alert=fixed[3],
        transaction_date=fixed[4:], screen_message=tuple(screen), print_line=tuple(printed),
        **values)
