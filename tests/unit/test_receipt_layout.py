"""Receipt layout: exact ESC/POS bytes, CJK column maths, every kind at both widths, preview."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image

from devices.receipt_layout import layout_receipt, render_receipt
from devices.receipt_preview import parse_escpos, render_png
from devices.receipt_text import (
    PAPERS,
    QrBlock,
    TextLine,
    encode_text,
    text_columns,
    wrap_columns,
)
from library_core.ereceipts import well_formed
from library_core.i18n import has_message, translate
from library_core.receipts import Receipt, ReceiptKind, ReceiptLine
from tests.support.printer_socket import SAMPLE_TIME
from tests.support.receipts import (
    EBASE,
    LIBRARY_NAME,
    LIBRARY_NAME_EN,
    real_day_amounts,
    real_receipt,
)
from tests.support.receipts import (
    NAMES as REAL_NAMES,
)

ESC_INIT = bytes.fromhex("1b40")
FS_ON, FS_OFF = bytes.fromhex("1c26"), bytes.fromhex("1c2e")
ALIGN_CENTER = bytes.fromhex("1b6101")
CUT = bytes.fromhex("1b6406") + bytes.fromhex("1d5601")  # feed 6 lines, partial cut

# "红楼梦（上），逾期：3天" in GB18030, written out from the GB2312 code table:
# 红 BAEC 楼 C2A5 梦 C3CE （ A3A8 上 C9CF ） A3A9 ， A3AC 逾 D3E2 期 C6DA ： A3BA 3 33 天 CCEC
KNOWN_TEXT = "红楼梦（上），逾期：3天"
KNOWN_GB18030 = bytes.fromhex("BAEC C2A5 C3CE A3A8 C9CF A3A9 A3AC D3E2 C6DA A3BA 33 CCEC")
RECEIPT_NO = "K01-20261124-0042"


def qr_segment(data: bytes, module: int) -> bytes:
    """GS ( k: model 2, module size, error correction M, store ``data``, print."""
    store_len = len(data) + 3
    return b"".join(
        [
            b"\x1d(k\x04\x00\x31\x41\x32\x00",  # fn 65: model 2
            b"\x1d(k\x03\x00\x31\x43" + bytes([module]),  # fn 67: module size
            b"\x1d(k\x03\x00\x31\x45\x31",  # fn 69: error correction M
            b"\x1d(k" + bytes([store_len % 256, store_len // 256]) + b"\x31\x50\x30" + data,
            b"\x1d(k\x03\x00\x31\x51\x30",  # fn 81: print
        ]
    )


def known_receipt() -> Receipt:
    return Receipt(
        receipt_no=RECEIPT_NO,
        kind=ReceiptKind.RETURNS,
        kiosk_id="K01",
        issued_at=SAMPLE_TIME,
        language="zh_CN",
        library_name="市图书馆",
        lines=(ReceiptLine(text=KNOWN_TEXT),),
    )


def test_fs_mode_bytes_have_init_chinese_segment_qr_and_cut() -> None:
    job = render_receipt(known_receipt(), paper_width_mm=80, chinese_mode="fs")

    assert job.startswith(ESC_INIT)
    assert FS_ON + KNOWN_GB18030 + FS_OFF + b"\n" in job
    # library name: double width and height (GS ! 0x11), centred, bold, in Chinese mode
    name = FS_ON + bytes.fromhex("CAD0 CDBC CAE9 B9DD") + FS_OFF + b"\n"  # 市图书馆
    double, bold = bytes.fromhex("1d2111"), bytes.fromhex("1b4501")
    assert job.startswith(ESC_INIT + double + bold + ALIGN_CENTER + name)
    qr = qr_segment(RECEIPT_NO.encode(), PAPERS[80].qr_module)
    assert qr in job
    before_qr = job[: job.index(qr)]
    assert before_qr.rfind(ALIGN_CENTER) > max(
        before_qr.rfind(b"\x1ba\x00"), before_qr.rfind(b"\x1ba\x02")
    )
    assert job.endswith(CUT)
    assert b"?" not in job.replace(qr, b"")  # nothing fell back to a question mark


def test_raw_mode_sends_plain_gb18030_without_fs_commands() -> None:
    job = render_receipt(known_receipt(), paper_width_mm=58, chinese_mode="raw")

    assert job.startswith(ESC_INIT)
    assert KNOWN_GB18030 + b"\n" in job
    assert FS_ON not in job and FS_OFF not in job
    assert qr_segment(RECEIPT_NO.encode(), PAPERS[58].qr_module) in job
    assert job.endswith(CUT)


def test_ascii_lines_are_not_wrapped_in_chinese_mode() -> None:
    assert encode_text("K01-20261124-0042", "fs") == b"K01-20261124-0042"
    assert encode_text("合计：", "fs") == FS_ON + bytes.fromhex("BACF BCC6 A3BA") + FS_OFF
    assert encode_text("合计：", "raw") == bytes.fromhex("BACF BCC6 A3BA")


def test_column_maths_counts_cjk_and_full_width_punctuation_double() -> None:
    assert text_columns("abc") == 3
    assert text_columns("合计：") == 6
    assert text_columns("￥12.50") == 7
    assert text_columns("ｱ") == 1  # half-width katakana
    assert wrap_columns("一二三四五六七八", 6) == ["一二三", "四五六", "七八"]
    assert wrap_columns("keep words whole", 10) == ["keep words", "whole"]
    # no line starts with closing punctuation
    assert wrap_columns("一二三，四五", 6) == ["一二", "三，四", "五"]


def test_amount_is_flush_right_in_double_width_columns() -> None:
    receipt = real_receipt(ReceiptKind.NEW_CARD, "zh_CN")
    assert receipt.total == 11000
    lines = [b.text for b in layout_receipt(receipt, 58) if isinstance(b, TextLine)]
    total = next(line for line in lines if line.startswith("合计："))
    assert total == "合计：" + " " * (32 - 6 - 8) + "￥110.00"
    assert text_columns(total) == 32


ALL = [(k, lang, w) for k in ReceiptKind for lang in ("zh_CN", "en") for w in (58, 80)]


@pytest.mark.parametrize(("kind", "language", "width"), ALL)
def test_every_kind_fits_the_paper_in_both_languages(
    kind: ReceiptKind, language: str, width: int
) -> None:
    receipt = real_receipt(kind, language)
    columns = PAPERS[width].columns
    blocks = layout_receipt(receipt, width)
    job = render_receipt(receipt, paper_width_mm=width)

    printed = parse_escpos(job)  # read back from the bytes, not from the layout
    assert printed.lines, "nothing printed"
    for line in printed.lines:
        assert line.columns <= columns, f"{line.text!r} is {line.columns} columns"
    text = "\n".join(line.text for line in printed.lines)
    assert translate(f"receipt.title.{kind}", language) in text
    assert receipt.receipt_no in text
    assert not re.search(r"receipt\.[a-z_.]+", text), "an untranslated message id was printed"
    assert "\ufffd" not in text
    assert printed.qr_codes == [receipt.qr]
    assert any(isinstance(b, QrBlock) and b.module * 21 <= PAPERS[width].dots for b in blocks)
    # Chinese on English receipts: see test_every_real_receipt_prints_no_ids_raw_fen_or_placeholders


def test_masked_reader_data_and_amounts_are_printed() -> None:
    receipt = real_receipt(ReceiptKind.PAYMENT)
    text = "\n".join(line.text for line in parse_escpos(render_receipt(receipt)).lines)
    assert receipt.id_masked == "110***********0017" and receipt.phone_masked == "138****0001"
    assert receipt.id_masked in text and receipt.phone_masked in text
    assert receipt.card_no_masked.startswith("2000****") and receipt.card_no_masked in text
    assert "￥1.20" in text and "现金" in text and "逾期罚款" in text
    assert "红楼梦（上）：脂评汇校本" in text  # the fine's item, as the returns use case named it


@pytest.mark.parametrize("domain", ["receipt", "printer"])
def test_catalogs_have_the_same_ids_and_placeholders(domain: str) -> None:
    def entries(lang: str) -> dict[str, str]:
        po = (
            Path(__file__).resolve().parents[2]
            / "library_core/locale"
            / lang
            / "LC_MESSAGES"
            / f"{domain}.po"
        )
        pairs = re.findall(r'^msgid "(.+)"\nmsgstr "(.*)"$', po.read_text("utf-8"), re.M)
        return dict(pairs)

    zh, en = entries("zh_CN"), entries("en")
    assert zh.keys() == en.keys() and zh
    for key in zh:
        assert set(re.findall(r"{(\w+)}", zh[key])) == set(re.findall(r"{(\w+)}", en[key])), key
        assert zh[key] and en[key], key
    for kind in ReceiptKind:
        assert has_message(f"receipt.title.{kind}", "zh_CN")
    assert translate("receipt.title.new_card", "zh_CN") == "办证凭条"
    assert translate("receipt.title.new_card", "en") == "New card receipt"


@pytest.mark.parametrize(
    "kind", [ReceiptKind.NEW_CARD, ReceiptKind.RETURNS, ReceiptKind.VISITOR_PASS]
)
@pytest.mark.parametrize("width", [58, 80])
def test_preview_png_qr_decodes_to_the_receipt_data(
    tmp_path: Path, kind: ReceiptKind, width: int
) -> None:
    receipt = real_receipt(kind, "zh_CN")
    path = tmp_path / "r.png"
    render_png(render_receipt(receipt, paper_width_mm=width), PAPERS[width].dots, path)

    image = Image.open(path)
    assert image.width == PAPERS[width].dots + 32
    decoded = [r.text for r in zxingcpp.read_barcodes(image)]
    assert decoded == [receipt.qr]
    if kind is not ReceiptKind.VISITOR_PASS:  # a reader receipt's QR is its e-receipt's URL
        assert well_formed(receipt.ereceipt_token)
        assert decoded == [f"{EBASE}/r/{receipt.ereceipt_token}"]


def test_preview_draws_chinese_glyphs_not_boxes(tmp_path: Path) -> None:
    """Two different Chinese lines must give different pixels (a missing font draws boxes)."""

    def ink(text: str) -> bytes:
        return render_png(b"\x1b@" + FS_ON + text.encode("gb18030") + FS_OFF + b"\n", 384).tobytes()

    assert ink("办证凭条") != ink("还书凭条")
    assert ink("办证凭条") != ink("    ")


@pytest.mark.parametrize(("language", "mark"), [("zh_CN", "重印"), ("en", "REPRINT")])
def test_a_reprint_is_marked_near_the_top(language: str, mark: str) -> None:
    import dataclasses

    receipt = dataclasses.replace(known_receipt(), language=language)
    plain = [line.text for line in parse_escpos(render_receipt(receipt)).lines]
    again = dataclasses.replace(receipt, reprint=True)
    printed = [line.text for line in parse_escpos(render_receipt(again)).lines]

    assert not any(mark in line for line in plain)
    assert any(mark in line for line in printed[:4]), printed[:4]
    assert Receipt.from_json(again.to_json()) == again


def test_journal_bodies_written_before_the_reprint_field_still_load() -> None:
    import json

    body = json.loads(known_receipt().to_json())
    del body["reprint"]
    assert Receipt.from_json(json.dumps(body)) == known_receipt()


# -- every real receipt, both languages: nothing raw reaches the paper --------------------------

MESSAGE_ID = re.compile(r"\b[a-z]+(?:[._][a-z0-9]+)+\b")  # receipt.method.cash, reading_room
PLACEHOLDER = re.compile(r"{\w*}")
BARE_INTEGER = re.compile(r"(?<![\d.,￥¥])\d[\d,]*(?![\d.,])")
CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef]")


def fen_amounts(receipt: Receipt) -> set[int]:
    """Every money amount the receipt carries (what must never print as a bare integer)."""
    amounts = {receipt.total} if receipt.total is not None else set()
    for line in receipt.lines:
        if line.amount is not None:
            amounts.add(line.amount)
        amounts |= {v for k, v in line.params.items()
                    if (k == "amount" or k.endswith("_fen")) and type(v) is int}
    return {abs(a) for a in amounts if abs(a) >= 100}


def reader_data(receipt: Receipt) -> str:
    """Text that is printed as it is (names, titles, reasons): it may be in any script."""
    parts = [receipt.reader_name, receipt.library_name]
    parts += [v for _, v in receipt.fields if isinstance(v, str) and not has_message(v, "en")]
    for line in receipt.lines:
        parts += [line.text, line.detail]
    return "".join(parts)


@pytest.mark.parametrize("width", [58, 80])
@pytest.mark.parametrize("language", ["zh_CN", "en"])
@pytest.mark.parametrize("name", REAL_NAMES)
def test_every_real_receipt_prints_no_ids_raw_fen_or_placeholders(
    name: str, language: str, width: int
) -> None:
    receipt = real_receipt(name, language)
    printed = parse_escpos(render_receipt(receipt, paper_width_mm=width))
    text = "\n".join(line.text for line in printed.lines)

    assert translate(f"receipt.title.{receipt.kind}", language) in text
    ids = [m for m in MESSAGE_ID.findall(text) if not receipt.reader_name.startswith(m)]
    assert not ids, f"message ids or raw codes printed: {ids}"
    assert not PLACEHOLDER.search(text), "a {placeholder} was left in"
    bare = {int(n.replace(",", "")) for n in BARE_INTEGER.findall(text) if not n.startswith("0")}
    amounts = fen_amounts(receipt) | real_day_amounts(name)
    assert not bare & amounts, f"raw fen printed: {sorted(bare & amounts)}"
    # every amount is laid out by the receipt builder, in the printer font's full-width sign
    assert "\u00a5" not in text, "an amount formatted outside the layout (half-width yen sign)"
    if language == "zh_CN":  # a code left untranslated reads as an English word here
        for code in ("reading", "cash", "wechat", "alipay", "adult", "lost"):
            assert not re.search(rf"(?<![A-Za-z]){code}(?![A-Za-z])", text), f"raw {code!r}"
    for line in printed.lines:
        assert line.columns <= PAPERS[width].columns, line.text
    if language == "en":
        allowed = set(reader_data(dataclasses.replace(receipt, library_name="")))
        chinese = {ch for ch in CJK.findall(text) if ch not in allowed and ch != "￥"}
        assert not chinese, f"Chinese on an English receipt: {''.join(sorted(chinese))}"
        assert LIBRARY_NAME not in text and LIBRARY_NAME_EN in text
    else:
        assert LIBRARY_NAME in text


# -- control characters from the server never reach the printer --------------------------------

DRAWER_KICK = "\x1bp\x00\x19\xfa"  # ESC p 0 25 250: opens the cash drawer
CUT_NOW = "\x1dV\x00"  # GS V 0: full cut


def returns_job(tmp_path: Path, titles: tuple[str, str], width: int) -> bytes:
    """The real returns receipt for two items with ``titles``, as printer bytes."""
    import dataclasses
    import datetime as dt

    from tests.support.receipts import make_receipt_env

    env = make_receipt_env(tmp_path / "kiosk.sqlite3")
    try:
        reader = env.new_card(1)
        session = env.services.returns.start()
        for serial, title in enumerate(titles, start=1):
            barcode = env.add_item(serial, title)
            env.add_loan(reader.reader_id, barcode, due_on=dt.date(2026, 11, 20))
            session.scan(barcode)
        receipt = session.finish()
        assert receipt is not None and [line.text for line in receipt.lines] == list(titles)
        assert receipt.ereceipt_token  # random per receipt: both jobs get the same QR here
        receipt = dataclasses.replace(receipt, qr_data=receipt.receipt_no)
        return render_receipt(receipt, paper_width_mm=width, chinese_mode="fs")
    finally:
        env.store.close()


@pytest.mark.parametrize("width", [58, 80])
def test_control_characters_in_a_title_print_as_spaces(tmp_path: Path, width: int) -> None:
    hostile = (f"红楼梦{DRAWER_KICK}（上）", f"Kick{CUT_NOW}me")
    clean = ("红楼梦 p  ú（上）", "Kick V me")  # what the controls become: one space each
    job = returns_job(tmp_path / "hostile", hostile, width)
    expected = returns_job(tmp_path / "clean", clean, width)

    assert job == expected
    assert b"\x1bp" not in job and b"\x1dV\x00" not in job
    assert job.count(b"\x1dV") == 1 and job.endswith(CUT)  # the layout's own cut, once


def test_encode_text_replaces_every_c0_and_c1_control() -> None:
    controls = "".join(map(chr, [*range(0x20), *range(0x7F, 0xA0)]))
    data = encode_text(f"a{controls}b", "raw")
    assert data == b"a" + b" " * len(controls) + b"b"
    assert text_columns(f"a{controls}b") == len(controls) + 2


@pytest.mark.parametrize("language", ["zh_CN", "en"])
def test_returns_count_items_and_the_roster_counts_visitors(language: str) -> None:
    """Five scans (one with a hold note under it) are five items; a roster counts people."""
    def text(name: str) -> str:
        job = render_receipt(real_receipt(name, language), paper_width_mm=80)
        return "\n".join(line.text for line in parse_escpos(job).lines)

    returns, roster = text("returns"), text("roster")
    assert translate("receipt.items_count", language, count=5) in returns
    assert translate("receipt.items_count", language, count=6) not in returns
    assert translate("receipt.visitors_count", language, count=1) in roster
    assert translate("receipt.items_count", language, count=1) not in roster
