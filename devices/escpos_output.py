"""ESC/POS emission: layout blocks become the bytes of one print job on a python-escpos Dummy,
so the same bytes can be sent through any python-escpos transport (network, USB, serial, file)."""

from __future__ import annotations

from collections.abc import Iterable

from devices.receipt_text import LF, Align, Block, ChineseMode, QrBlock, TextLine, encode_text


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
