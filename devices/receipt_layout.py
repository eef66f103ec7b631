"""Lay out a ``Receipt`` as ESC/POS bytes for 58 mm and 80 mm receipt printers.

The layout is built in two steps: :func:`layout_receipt` turns a receipt into a list of blocks
(text lines with style, a QR code, feed, cut) measured in printer columns, and
:func:`encode_blocks` turns those blocks into bytes on an ``escpos.printer.Dummy``, so the same
bytes can be sent through any python-escpos transport (network, USB, serial, file).

Chinese text is encoded to GB18030 here and sent with ``_raw`` (python-escpos would otherwise
guess a code page and turn full-width punctuation into ``?``). The printer profile's
``chinese_mode`` decides whether Chinese lines are wrapped in ``FS &`` ... ``FS .`` (Epson style,
``"fs"``) or sent as plain GB18030 (Chinese-market printers, ``"raw"``).

Control characters never reach the printer: :func:`encode_text`, the one place where text
becomes bytes, turns every C0 (``\x00``-``\x1f``), DEL and C1 (``\x80``-``\x9f``) character
into a space, so an ``ESC p`` (kick the cash drawer) or ``GS V`` (cut) inside a title from the
server prints as blanks. The column maths counts such a character as the one space it becomes.

Column maths: an ASCII character takes one column; any other character is printed from the
printer's double-byte GB font and takes two (``unicodedata.east_asian_width`` "H" half-width forms
excepted). Double-size text takes twice as many columns.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from library_core.i18n import has_message, translate
from library_core.money import format_fen
from library_core.receipts import Receipt, ReceiptKind, ReceiptLine, localized_text

log = logging.getLogger(__name__)

ChineseMode = Literal["raw", "fs"]
Align = Literal["left", "center", "right"]

ESC = b"\x1b"
GS = b"\x1d"
FS = b"\x1c"
LF = b"\n"
FS_CHINESE_ON = FS + b"&"
FS_CHINESE_OFF = FS + b"."
ENCODING = "gb18030"
MONEY_SYMBOL = "￥"  # full-width yen sign: GB2312 A3A4, present in every Chinese printer font
CONTROL_SUBSTITUTE = " "
# C0, DEL and C1 controls -> a space: no byte of a title, name or note can be a printer command
_CONTROLS = {c: CONTROL_SUBSTITUTE for c in (*range(0x20), *range(0x7F, 0xA0))}


@dataclass(frozen=True, slots=True)
class PaperSpec:
    width_mm: int
    columns: int
    dots: int
    qr_module: int


PAPERS: Mapping[int, PaperSpec] = {
    58: PaperSpec(58, 32, 384, 5),
    80: PaperSpec(80, 48, 576, 6),
}


def paper_spec(width_mm: int) -> PaperSpec:
    """The paper for ``width_mm`` (58 or 80). Raises ValueError for anything else."""
    try:
        return PAPERS[width_mm]
    except KeyError:
        raise ValueError(f"unsupported paper width {width_mm} mm (58 or 80)") from None


# -- column maths ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def char_columns(ch: str) -> int:
    """Printer columns one character takes: 1 for ASCII (and a control, printed as a space),
    0 for a combining mark, else 2."""
    code = ord(ch)
    if code < 0xA0:
        return 1
    if unicodedata.combining(ch):
        return 0
    if unicodedata.east_asian_width(ch) == "H":
        return 1
    return 2  # W, F, A and N: a GB18030 printer draws them from its double-byte font


def text_columns(text: str) -> int:
    return sum(char_columns(ch) for ch in text)


_CLOSING = set("，。、；：！？）》」』】〉”’…—,.;:!?)]")


def _tokens(text: str) -> list[str]:
    """Split into wrap units: ASCII words (with their trailing spaces) and single wide chars."""
    out: list[str] = []
    word = ""
    for ch in text:
        if ord(ch) < 0x80:
            if ch == " " and word and not word.endswith(" "):
                word += ch
                out.append(word)
                word = ""
            else:
                word += ch
        else:
            if word:
                out.append(word)
                word = ""
            out.append(ch)
    if word:
        out.append(word)
    return out


def wrap_columns(text: str, width: int) -> list[str]:
    """Wrap ``text`` into lines of at most ``width`` columns (words kept whole when they fit)."""
    if width <= 0:
        raise ValueError("width must be positive")
    lines: list[str] = []
    current = ""
    for token in _tokens(text):
        if text_columns((current + token).rstrip()) <= width:
            current += token
            continue
        if (
            token[:1] in _CLOSING
            and len(current.rstrip()) > 1
            and not current.rstrip()[-1].isascii()
        ):
            current = current.rstrip()  # no line starts with closing punctuation: carry one char
            token, current = current[-1] + token, current[:-1]
        if current.strip():
            lines.append(current.rstrip())
        token = token.lstrip()
        while text_columns(token.rstrip()) > width:  # a word longer than a line: cut it
            cut = ""
            for ch in token:
                if text_columns(cut + ch) > width:
                    break
                cut += ch
            lines.append(cut)
            token = token[len(cut) :]
        current = token
    if current.strip() or not lines:
        lines.append(current.rstrip())
    return lines


def pad_between(left: str, right: str, width: int) -> str:
    """``left`` and ``right`` on one line of ``width`` columns, the gap filled with spaces."""
    gap = width - text_columns(left) - text_columns(right)
    if gap < 1:
        raise ValueError("does not fit")
    return left + " " * gap + right


# -- blocks ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TextLine:
    text: str
    align: Align = "left"
    bold: bool = False
    double: bool = False  # double width and height

    @property
    def columns(self) -> int:
        return text_columns(self.text) * (2 if self.double else 1)


@dataclass(frozen=True, slots=True)
class QrBlock:
    data: str
    module: int


@dataclass(frozen=True, slots=True)
class Feed:
    lines: int = 1


Block = TextLine | QrBlock | Feed


def _money(amount: int) -> str:
    return format_fen(amount, symbol=MONEY_SYMBOL)


def _fmt_params(params: Mapping[str, Any], language: str) -> dict[str, Any]:
    """Money params (``amount`` or ``*_fen``, integers) become ``￥12.50``; ids get translated."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        if (
            (key == "amount" or key.endswith("_fen"))
            and isinstance(value, int)
            and not isinstance(value, bool)
        ):
            out[key] = _money(value)
        elif key == "method" and isinstance(value, str):
            out[key] = _method_text(value, language)
        elif isinstance(value, dict):
            out[key] = localized_text(value, language)
        else:
            out[key] = value
    return out


def _t(message_id: str, language: str, **params: Any) -> str:
    return translate(message_id, language, **_fmt_params(params, language))


def _value_text(value: str | dict[str, str], language: str) -> str:
    """A field value as printed: a known message id is translated, a Localized name picked."""
    if isinstance(value, dict):
        return localized_text(value, language)
    if value.startswith("receipt.") and has_message(value, language):
        return translate(value, language)
    return value


def _method_text(method: str, language: str) -> str:
    key = f"receipt.method.{method}"
    return translate(key, language) if has_message(key, language) else method


def _time_text(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M:%S")


class _Builder:
    def __init__(self, receipt: Receipt, paper: PaperSpec) -> None:
        self.r = receipt
        self.lang = receipt.language if receipt.language in ("zh_CN", "en") else "zh_CN"
        self.cols = paper.columns
        self.paper = paper
        self.blocks: list[Block] = []

    def line(self, text: str, align: Align = "left", *, bold: bool = False) -> None:
        for part in wrap_columns(text, self.cols):
            self.blocks.append(TextLine(part, align, bold))

    def big(self, text: str, *, bold: bool = True) -> None:
        for part in wrap_columns(text, self.cols // 2):
            self.blocks.append(TextLine(part, "center", bold, double=True))

    def rule(self, ch: str = "-") -> None:
        self.blocks.append(TextLine(ch * self.cols))

    def label(self, key: str) -> str:
        return _t(key, self.lang) + _t("receipt.label_sep", self.lang)

    def field(self, label: str, value: str, *, bold: bool = False) -> None:
        """``label：value``; a long value wraps under itself (hanging indent)."""
        lw = text_columns(label)
        if lw > self.cols // 2:
            self.line(label + value, bold=bold)
            return
        parts = wrap_columns(value, self.cols - lw) if value else [""]
        self.blocks.append(TextLine(label + parts[0], bold=bold))
        for part in parts[1:]:
            self.blocks.append(TextLine(" " * lw + part, bold=bold))

    def amount_line(self, left: str, amount: str, *, bold: bool = False, indent: int = 0) -> None:
        """``left`` on the left and ``amount`` flush right; a long ``left`` wraps above it."""
        aw = text_columns(amount)
        room = self.cols - aw - 1 - indent
        if room < 4:  # amount too wide for a line with text: two lines
            self.line(left, bold=bold)
            self.blocks.append(TextLine(amount, "right", bold))
            return
        parts = wrap_columns(left, room)
        for part in parts[:-1]:
            self.blocks.append(TextLine(" " * indent + part, bold=bold))
        self.blocks.append(
            TextLine(pad_between(" " * indent + parts[-1], amount, self.cols), bold=bold)
        )

    # -- sections -------------------------------------------------------------------------

    def build(self) -> list[Block]:
        r, lang = self.r, self.lang
        library_name = r.library_name_for(lang)
        if library_name:
            self.big(library_name)
        self.blocks.append(TextLine(_t(f"receipt.title.{r.kind}", lang), "center", bold=True))
        if r.reprint:
            self.big(_t("receipt.reprint_mark", lang))
        self.rule("=")
        self.field(self.label("receipt.kiosk"), r.kiosk_id)
        self.field(self.label("receipt.no"), r.receipt_no)
        self.field(self.label("receipt.time"), _time_text(r.issued_at))
        reader = [
            (
                "receipt.field.visitor" if r.kind == ReceiptKind.VISITOR_PASS else "receipt.reader",
                r.reader_name,
            ),
            ("receipt.card_no", r.card_no_masked),
            ("receipt.id_no", r.id_masked),
            ("receipt.phone", r.phone_masked),
        ]
        if any(v for _, v in reader):
            self.rule()
            for key, value in reader:
                if value:
                    self.field(self.label(key), value)
        if r.fields:
            self.rule()
            for name, field_value in r.fields:
                self.field(self.label(name), _value_text(field_value, lang))
        if r.lines:
            self.rule()
            self.line(_t(f"receipt.section.{r.kind}", lang), bold=True)
            for item in r.lines:
                self.item(item)
            counted = sum(1 for item in r.lines if item.text)  # a hold note is no item
            if r.kind == ReceiptKind.RETURNS:
                self.line(_t("receipt.items_count", lang, count=counted), "right")
            elif r.kind == ReceiptKind.ROSTER:
                self.line(_t("receipt.visitors_count", lang, count=counted), "right")
        if r.total is not None or r.payment_method or r.staff_no:
            self.rule()
            if r.total is not None:
                self.amount_line(self.label("receipt.total"), _money(r.total), bold=True)
            if r.payment_method:
                self.field(
                    self.label("receipt.payment_method"), _method_text(r.payment_method, lang)
                )
            if r.staff_no:
                self.field(self.label("receipt.staff"), r.staff_no)
        self.rule()
        if r.qr:
            self.blocks.append(QrBlock(r.qr, self._qr_module(r.qr)))
            hint = (
                "receipt.qr_hint.visitor_pass"
                if r.kind == ReceiptKind.VISITOR_PASS
                else "receipt.qr_hint"
            )
            self.line(_t(hint, lang), "center")
            self.line(r.receipt_no, "center")
        footer = r.footer_key or self._default_footer()
        self.blocks.append(Feed(1))
        self.line(_t(footer, lang), "center")
        return self.blocks

    def item(self, item: ReceiptLine) -> None:
        lang = self.lang
        text = item.text or (_t(item.key, lang, **item.params) if item.key else "")
        if item.amount is not None:
            self.amount_line(text, _money(item.amount))
        elif item.quantity is not None:
            self.amount_line(text, str(item.quantity))
        elif text:
            self.line(text)
        detail = item.detail or (
            _t(item.detail_key, lang, **item.params) if item.detail_key else ""
        )
        if detail:
            for part in wrap_columns(detail, self.cols - 2):
                self.blocks.append(TextLine("  " + part))

    def _default_footer(self) -> str:
        key = f"receipt.footer.{self.r.kind}"
        return key if has_message(key, self.lang) else "receipt.footer.default"

    def _qr_module(self, data: str) -> int:
        """Module size so the code is at most about 60 % of the paper width."""
        import qrcode  # lazy: only needed while laying out

        qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=0)
        qr.add_data(data)
        modules: int = qr.best_fit() * 4 + 17  # the size alone; no need to build the matrix
        limit = int(self.paper.dots * 0.6) // max(modules, 1)
        return max(1, min(self.paper.qr_module, limit))


def layout_receipt(receipt: Receipt, paper_width_mm: int = 80) -> list[Block]:
    """The receipt as blocks in printer columns, in the receipt's language."""
    return _Builder(receipt, paper_spec(paper_width_mm)).build()


# -- bytes ----------------------------------------------------------------------------------


def printable(text: str) -> str:
    """``text`` with every C0, DEL and C1 control character replaced by a space."""
    return text.translate(_CONTROLS)


def encode_text(text: str, chinese_mode: ChineseMode) -> bytes:
    """One line's text as printer bytes (no line feed): GB18030, wrapped in FS & / FS . if asked.

    The only way text becomes bytes: control characters are replaced here (see module doc)."""
    text = printable(text)
    data = text.encode(ENCODING, errors="replace")
    if chinese_mode == "fs" and not text.isascii():
        return FS_CHINESE_ON + data + FS_CHINESE_OFF
    return data


def encode_blocks(
    blocks: Iterable[Block], *, chinese_mode: ChineseMode = "fs", profile: str | None = None
) -> bytes:
    """ESC/POS bytes for ``blocks`` built on a python-escpos Dummy printer."""
    from escpos.constants import QR_ECLEVEL_M
    from escpos.printer import Dummy

    if chinese_mode not in ("fs", "raw"):
        raise ValueError(f"unknown chinese_mode {chinese_mode!r}")
    p = Dummy(profile=None if profile in (None, "", "default") else profile)
    p.hw("INIT")
    state: tuple[Align, bool, bool] | None = None
    for block in blocks:
        if isinstance(block, TextLine):
            wanted = (block.align, block.bold, block.double)
            if wanted != state:
                size = 2 if block.double else 1
                p.set(align=block.align, bold=block.bold, custom_size=True, width=size, height=size)
                state = wanted
            p._raw(encode_text(block.text, chinese_mode) + LF)
        elif isinstance(block, QrBlock):
            p.set(align="center", bold=False, custom_size=True, width=1, height=1)
            state = ("center", False, False)
            # qr(native=True, center=True) is not implemented: centre alignment is set above
            p.qr(block.data, ec=QR_ECLEVEL_M, size=block.module, native=True)
            p._raw(LF)
        else:
            p.print_and_feed(block.lines)
    p.set(align="left", bold=False, custom_size=True, width=1, height=1)
    p.cut(mode="PART")
    data: bytes = p.output
    return data


def render_receipt(
    receipt: Receipt,
    *,
    paper_width_mm: int = 80,
    chinese_mode: ChineseMode = "fs",
    profile: str | None = None,
) -> bytes:
    """The complete print job for ``receipt``: init, text, QR, footer, cut."""
    return encode_blocks(
        layout_receipt(receipt, paper_width_mm), chinese_mode=chinese_mode, profile=profile
    )
