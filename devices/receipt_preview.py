"""Draw ESC/POS bytes as a PNG: a picture of the printed receipt at paper width.

Understands the subset this product emits (and a little more): ESC @, LF, ESC a (align),
ESC E (bold), ESC ! and GS ! (character size), FS & / FS . (Chinese mode), GB18030 text,
GS ( k (native QR: model, module size, error correction, store, print), GS v 0 (raster image),
ESC d (feed), GS V (cut), ESC 2 / ESC 3 (line spacing), DLE EOT (status queries, ignored).
Text is drawn one cell per printer column (Font A: 12 x 24 dots) with the WenQuanYi Micro Hei
Mono face, so the picture lines up the way the printer does. The QR code is drawn from its
stored data with qrcode, so a decoder (zxing-cpp) can read it back from the PNG.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

log = logging.getLogger(__name__)

CJK_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
MONO_FACE_INDEX = 1  # "WenQuanYi Micro Hei Mono": ASCII half width, CJK full width
CELL_W, CELL_H = 12, 24  # Font A
LINE_PITCH = 30  # default line spacing (ESC 2), dots
MARGIN = 16

_ESC, _GS, _FS, _DLE = 0x1B, 0x1D, 0x1C, 0x10


@dataclass
class Run:
    text: str
    bold: bool
    width: int  # 1 or 2 (horizontal scale)
    height: int


@dataclass
class PrintedLine:
    runs: list[Run]
    align: int  # 0 left, 1 centre, 2 right
    pitch: int

    @property
    def text(self) -> str:
        return "".join(r.text for r in self.runs)

    @property
    def columns(self) -> int:
        from devices.receipt_text import text_columns

        return sum(text_columns(r.text) * r.width for r in self.runs)

    @property
    def height(self) -> int:
        return max([CELL_H * r.height for r in self.runs] + [0])


@dataclass
class PrintedImage:
    image: Image.Image
    align: int
    kind: str = "image"  # "qr" or "image"
    data: str = ""


@dataclass
class Cut:
    pass


@dataclass
class Feed:
    dots: int


Item = PrintedLine | PrintedImage | Cut | Feed


@dataclass
class Parsed:
    items: list[Item] = field(default_factory=list)

    @property
    def lines(self) -> list[PrintedLine]:
        return [i for i in self.items if isinstance(i, PrintedLine)]

    @property
    def qr_codes(self) -> list[str]:
        return [i.data for i in self.items if isinstance(i, PrintedImage) and i.kind == "qr"]


class _Parser:
    def __init__(self, data: bytes) -> None:
        self.d = data
        self.i = 0
        self.out = Parsed()
        self.reset()
        self.pending: list[Run] = []
        self.buf = bytearray()

    def reset(self) -> None:
        self.align = 0
        self.bold = False
        self.w = 1
        self.h = 1
        self.pitch = LINE_PITCH
        self.qr_module = 3
        self.qr_ec = "M"
        self.qr_data = b""

    def flush_text(self) -> None:
        if self.buf:
            text = bytes(self.buf).decode("gb18030", errors="replace")
            self.pending.append(Run(text, self.bold, self.w, self.h))
            self.buf.clear()

    def newline(self) -> None:
        self.flush_text()
        line = PrintedLine(self.pending, self.align, self.pitch)
        self.out.items.append(line)
        self.pending = []

    def take(self, n: int) -> bytes:
        chunk = self.d[self.i : self.i + n]
        self.i += n
        return chunk

    def run(self) -> Parsed:
        d = self.d
        while self.i < len(d):
            b = d[self.i]
            self.i += 1
            if b == 0x0A:
                self.newline()
            elif b == 0x0D:
                continue
            elif b == _ESC:
                self.esc()
            elif b == _GS:
                self.gs()
            elif b == _FS:
                self.flush_text()
                self.take(1)  # FS & / FS . : the text is GB18030 either way
            elif b == _DLE:
                self.take(2)  # DLE EOT n: a status query, prints nothing
            else:
                self.buf.append(b)
        if self.buf or self.pending:
            self.newline()
        return self.out

    def esc(self) -> None:
        self.flush_text()
        cmd = self.take(1)
        if cmd == b"@":
            self.reset()
        elif cmd == b"a":
            self.align = self.take(1)[0] % 48
        elif cmd == b"E":
            self.bold = bool(self.take(1)[0] & 1)
        elif cmd == b"!":
            n = self.take(1)[0]
            self.bold = bool(n & 0x08)
            self.h = 2 if n & 0x10 else 1
            self.w = 2 if n & 0x20 else 1
        elif cmd == b"d":
            if self.pending or self.buf:
                self.newline()
            self.out.items.append(Feed(self.take(1)[0] * self.pitch))
        elif cmd == b"2":
            self.pitch = LINE_PITCH
        elif cmd == b"3":
            self.pitch = self.take(1)[0]
        elif cmd in (b"M", b"-", b"t", b"{", b"G", b"r", b"R"):
            self.take(1)
        else:
            log.debug("preview: unknown ESC %r", cmd)

    def gs(self) -> None:
        self.flush_text()
        cmd = self.take(1)
        if cmd == b"!":
            n = self.take(1)[0]
            self.w = (n >> 4 & 7) + 1
            self.h = (n & 7) + 1
        elif cmd == b"V":
            m = self.take(1)[0]
            if m in (65, 66):
                self.take(1)
            if self.pending:
                self.newline()
            self.out.items.append(Cut())
        elif cmd == b"(":
            fn_class = self.take(1)
            p_l, p_h = self.take(2)
            body = self.take(p_l + p_h * 256)
            if fn_class == b"k":
                self.qr(body)
        elif cmd == b"v":
            self.take(2)  # "0" m
            x_l, x_h, y_l, y_h = self.take(4)
            width_bytes, height = x_l + x_h * 256, y_l + y_h * 256
            raster = self.take(width_bytes * height)
            img = Image.frombytes("1", (width_bytes * 8, height), raster)
            from PIL import ImageOps

            img = ImageOps.invert(img.convert("L"))
            self.out.items.append(PrintedImage(img, self.align))
        elif cmd in (b"B", b"h", b"w", b"H", b"f"):
            self.take(1)
        else:
            log.debug("preview: unknown GS %r", cmd)

    def qr(self, body: bytes) -> None:
        if len(body) < 2 or body[0] != 0x31:
            return
        fn, rest = body[1], body[2:]
        if fn == 67:
            self.qr_module = rest[0]
        elif fn == 69:
            self.qr_ec = "LMQH"[(rest[0] - 48) % 4]
        elif fn == 80:
            self.qr_data = rest[1:]
        elif fn == 81:
            self.out.items.append(self.qr_image())

    def qr_image(self) -> PrintedImage:
        import qrcode
        from qrcode.constants import (
            ERROR_CORRECT_H,
            ERROR_CORRECT_L,
            ERROR_CORRECT_M,
            ERROR_CORRECT_Q,
        )

        ec = {
            "L": ERROR_CORRECT_L,
            "M": ERROR_CORRECT_M,
            "Q": ERROR_CORRECT_Q,
            "H": ERROR_CORRECT_H,
        }
        text = self.qr_data.decode("utf-8", errors="replace")
        code = qrcode.QRCode(error_correction=ec[self.qr_ec], box_size=self.qr_module, border=0)
        code.add_data(text)
        code.make(fit=True)
        img = code.make_image(fill_color="black", back_color="white").get_image().convert("L")
        return PrintedImage(img, self.align, "qr", text)


def parse_escpos(data: bytes) -> Parsed:
    """The printed lines, codes and cuts in an ESC/POS job."""
    return _Parser(data).run()


_fonts: dict[int, Any] = {}


def _font(px: int) -> Any:
    if px not in _fonts:
        _fonts[px] = ImageFont.truetype(str(CJK_FONT), px, index=MONO_FACE_INDEX)
    return _fonts[px]


def render_png(data: bytes, dots: int, path: Path | str | None = None) -> Image.Image:
    """Draw the job on paper ``dots`` wide (384 for 58 mm, 576 for 80 mm); save if ``path``."""
    from devices.receipt_text import char_columns

    parsed = parse_escpos(data)
    height = MARGIN * 2
    for item in parsed.items:
        if isinstance(item, PrintedLine):
            height += max(item.pitch, item.height + 10)
        elif isinstance(item, PrintedImage):
            height += item.image.height + 8
        elif isinstance(item, Feed):
            height += item.dots
        else:
            height += 24
    paper = Image.new("L", (dots + 2 * MARGIN, height), 255)
    draw = ImageDraw.Draw(paper)
    y = MARGIN
    for item in parsed.items:
        if isinstance(item, PrintedLine):
            pitch = max(item.pitch, item.height + 10)
            width = item.columns * CELL_W
            x = MARGIN + [0, (dots - width) // 2, dots - width][min(item.align, 2)]
            base = y + item.height
            for run in item.runs:
                font = _font(CELL_H * run.height)
                for ch in run.text:
                    cols = char_columns(ch)
                    # the Mono face at this size has the printer's cell advance (w == h)
                    draw.text(
                        (x, base),
                        ch,
                        font=font,
                        fill=0,
                        anchor="ls",
                        stroke_width=1 if run.bold else 0,
                        stroke_fill=0,
                    )
                    x += CELL_W * cols * run.width
            y += pitch
        elif isinstance(item, PrintedImage):
            w = item.image.width
            x = MARGIN + [0, (dots - w) // 2, dots - w][min(item.align, 2)]
            paper.paste(item.image, (x, y + 4))
            y += item.image.height + 8
        elif isinstance(item, Feed):
            y += item.dots
        else:
            for x0 in range(0, dots + 2 * MARGIN, 12):
                draw.line((x0, y + 12, x0 + 6, y + 12), fill=128)
            y += 24
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        paper.save(path)
    return paper
