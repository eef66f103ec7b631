"""A pushed receipt as the e-receipt page shows it: the printed receipt's sections in the same
order (``devices.receipt_layout``), in words from ``library_core.receipt_words``."""

from __future__ import annotations

from dataclasses import dataclass, field

from library_core.i18n import has_message
from library_core.receipt_words import method_text, money, time_text, value_text, words
from library_core.receipts import Receipt, ReceiptKind


@dataclass(frozen=True)
class Row:
    label: str
    value: str
    bold: bool = False


@dataclass(frozen=True)
class Item:
    text: str
    right: str = ""
    detail: str = ""


@dataclass
class ReceiptView:
    library_name: str
    title: str
    head: list[Row] = field(default_factory=list)
    reader: list[Row] = field(default_factory=list)
    fields: list[Row] = field(default_factory=list)
    section: str = ""
    items: list[Item] = field(default_factory=list)
    count: str = ""
    totals: list[Row] = field(default_factory=list)
    footer: str = ""


def receipt_view(r: Receipt, lang: str) -> ReceiptView:
    """``r`` in ``lang`` (zh_CN or en), section by section as on paper (no QR: this is it)."""
    def label(key: str) -> str:
        return words(key, lang)

    view = ReceiptView(r.library_name_for(lang), words(f"receipt.title.{r.kind}", lang))
    view.head = [Row(label("receipt.kiosk"), r.kiosk_id), Row(label("receipt.no"), r.receipt_no),
                 Row(label("receipt.time"), time_text(r.issued_at))]
    for key, value in (("receipt.reader", r.reader_name), ("receipt.card_no", r.card_no_masked),
                       ("receipt.id_no", r.id_masked), ("receipt.phone", r.phone_masked)):
        if value:
            view.reader.append(Row(label(key), value))
    view.fields = [Row(label(name), value_text(value, lang)) for name, value in r.fields]
    if r.lines:
        view.section = words(f"receipt.section.{r.kind}", lang)
        for line in r.lines:
            text = line.text or (words(line.key, lang, **line.params) if line.key else "")
            right = (money(line.amount) if line.amount is not None
                     else str(line.quantity) if line.quantity is not None else "")
            detail = line.detail or (words(line.detail_key, lang, **line.params)
                                     if line.detail_key else "")
            view.items.append(Item(text, right, detail))
        if r.kind == ReceiptKind.RETURNS:
            view.count = words("receipt.items_count", lang,
                               count=sum(1 for line in r.lines if line.text))
    if r.total is not None:
        view.totals.append(Row(label("receipt.total"), money(r.total), bold=True))
    if r.payment_method:
        view.totals.append(Row(label("receipt.payment_method"),
                               method_text(r.payment_method, lang)))
    if r.staff_no:
        view.totals.append(Row(label("receipt.staff"), r.staff_no))
    footer = r.footer_key or f"receipt.footer.{r.kind}"
    view.footer = words(footer if has_message(footer, lang) else "receipt.footer.default", lang)
    return view
