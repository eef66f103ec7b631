"""7. Receipt: ESC/POS bytes of a 20-item return receipt (layout + encode), target <= 10 ms.

Measured: ``devices.receipt_layout.render_receipt`` on a realistic 20-item return receipt in
Chinese (long titles, CJK punctuation, fines, hold flags, QR code), 80 mm paper, FS-mode GB18030.
Baseline: python-escpos's Dummy printer writing the same finished text lines, the same native QR
and the cut, with no layout, wrapping or translation (the floor the library itself costs).
"""

from __future__ import annotations

import datetime as dt

from bench.common import Result, percentile, summary_ms, time_ms
from devices.receipt_layout import layout_receipt, render_receipt
from devices.receipt_text import QrBlock, TextLine
from library_core.clock import CHINA_TZ
from library_core.money import format_fen
from library_core.receipts import Receipt, ReceiptKind, ReceiptLine

REPEAT = 300
TARGET_MS = 10.0

TITLES = (
    "红楼梦（上）", "三体：地球往事", "活着", "平凡的世界（全三册）", "围城",
    "百年孤独", "Python编程：从入门到实践（第3版）", "中国历史地图集 第一册", "朝花夕拾", "骆驼祥子",
)


def twenty_item_receipt() -> Receipt:
    lines: list[ReceiptLine] = []
    for i in range(20):
        title = f"《{TITLES[i % len(TITLES)]}》 第{i + 1}本"
        if i % 4 == 0:
            days = 3 + i
            lines.append(ReceiptLine(text=title, amount=days * 10, detail_key="receipt.line.overdue",
                                     params={"days": days, "amount": format_fen(days * 10)}))
        else:
            lines.append(ReceiptLine(text=title, detail_key="receipt.line.returned_on_time"))
        if i % 7 == 3:
            lines.append(ReceiptLine(key="receipt.line.hold"))
    total = sum(line.amount or 0 for line in lines)
    return Receipt(
        receipt_no="K01-20261124-0042", kind=ReceiptKind.RETURNS, kiosk_id="K01",
        issued_at=dt.datetime(2026, 11, 24, 15, 30, tzinfo=CHINA_TZ), language="zh_CN",
        library_name="市图书馆", fields=(("receipt.field.items", "20"),), lines=tuple(lines),
        total=total, footer_key="receipt.footer.returns")


def bare_escpos(texts: list[str], qr: str) -> bytes:
    """The same text and QR straight through python-escpos's Dummy printer."""
    from escpos.constants import QR_ECLEVEL_M
    from escpos.printer import Dummy

    p = Dummy()
    p.hw("INIT")
    for text in texts:
        p._raw(text.encode("gb18030") + b"\n")
    p.set(align="center")
    p.qr(qr, ec=QR_ECLEVEL_M, size=6, native=True)
    p.cut(mode="PART")
    data: bytes = p.output
    return data


def run() -> list[Result]:
    receipt = twenty_item_receipt()
    blocks = layout_receipt(receipt, 80)
    texts = [b.text for b in blocks if isinstance(b, TextLine)]
    qr = next(b.data for b in blocks if isinstance(b, QrBlock))
    job = render_receipt(receipt, paper_width_mm=80)
    assert len(texts) > 40 and len(job) > 1000, "the receipt is not the size it should be"
    measured = time_ms(lambda: render_receipt(receipt, paper_width_mm=80), repeat=REPEAT)
    base = time_ms(lambda: bare_escpos(texts, qr), repeat=REPEAT)
    p95, b95 = percentile(measured, 95), percentile(base, 95)
    return [Result(
        "7 receipt", "p95 build 20-item receipt", p95, "ms",
        baseline_name="bare python-escpos Dummy, same lines", baseline=b95,
        target=f"<= {TARGET_MS:.0f} ms", met=p95 <= TARGET_MS,
        notes=[f"layout+encode {summary_ms(measured)}; {len(job)} bytes, {len(texts)} lines",
               f"baseline {summary_ms(base)}"])]
