"""Printer text, the primitives a receipt is made of: paper sizes, printer columns, wrapping,
the blocks a layout is made of, and the one place text becomes printer bytes.

Chinese text is encoded to GB18030 here (:func:`encode_text`) and sent raw (python-escpos would
otherwise guess a code page and turn full-width punctuation into ``?``). The printer profile's
``chinese_mode`` decides whether Chinese lines are wrapped in ``FS &`` ... ``FS .`` (Epson style,
``"fs"``) or sent as plain GB18030 (Chinese-market printers, ``"raw"``).

Control characters never reach the printer: :func:`encode_text` turns every C0
(``\x00``-``\x1f``), DEL and C1 (``\x80``-``\x9f``) character into a space, so an ``ESC p`` (kick
the cash drawer) or ``GS V`` (cut) inside a title from the server prints as blanks. The column
maths counts such a character as the one space it becomes.

Column maths: an ASCII character takes one column; any other character is printed from the
printer's double-byte GB font and takes two (``unicodedata.east_asian_width`` "H" half-width forms
excepted). Double-size text takes twice as many columns.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

ChineseMode = Literal["raw", "fs"]
Align = Literal["left", "center", "right"]

ESC = b"\x1b"
GS = b"\x1d"
FS = b"\x1c"
LF = b"\n"
FS_CHINESE_ON = FS + b"&"
FS_CHINESE_OFF = FS + b"."
ENCODING = "gb18030"
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


# -- bytes ----------------------------------------------------------------------------------


def printable(text: str) -> str:
    """``text`` with every C0, DEL and C1 control character replaced by a space."""
    return text.translate(_CONTROLS)


def encode_text(text: str, chinese_mode: ChineseMode) -> bytes:
    """One line's text as printer bytes (no line feed): GB18030, wrapped in FS & / FS . if asked.

    The only way text becomes bytes: control characters are replaced here (see the module doc)."""
    text = printable(text)
    data = text.encode(ENCODING, errors="replace")
    if chinese_mode == "fs" and not text.isascii():
        return FS_CHINESE_ON + data + FS_CHINESE_OFF
    return data
