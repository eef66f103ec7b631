"""Lay out a ``Receipt`` for 58 mm and 80 mm receipt printers, and the complete print job.

The layout is built in two steps: :func:`layout_receipt` turns a receipt into a list of blocks
(text lines with style, a QR code, feed, cut) measured in printer columns
(:mod:`devices.receipt_text`), and :func:`devices.escpos_output.encode_blocks` turns those blocks
into ESC/POS bytes. :func:`render_receipt` does both.

This module holds the receipt's body: header, reader, fields, items, totals, QR and footer, in the
receipt's language, money printed as ``￥12.50``.
"""

from __future__ import annotations

import logging

from devices.escpos_output import encode_blocks
from devices.receipt_text import (
    Align,
    Block,
    ChineseMode,
    Feed,
    PaperSpec,
    QrBlock,
    TextLine,
    pad_between,
    paper_spec,
    text_columns,
    wrap_columns,
)
from library_core.i18n import has_message
from library_core.receipt_words import (
    fmt_params,
    method_text,
    money,
    time_text,
    value_text,
    words,
)
from library_core.receipts import Receipt, ReceiptKind, ReceiptLine

log = logging.getLogger(__name__)

# the receipt's words (money, message ids, methods) are library_core.receipt_words: the
# e-receipt page on the record server shows the same
_money, _fmt_params, _t = money, fmt_params, words
_value_text, _method_text, _time_text = value_text, method_text, time_text


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
