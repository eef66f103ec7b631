"""The ``errors`` catalog: both languages, same ids, same placeholders; every id the use cases
raise has a text."""

from __future__ import annotations

import re
import string
from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
LOCALE = ROOT / "library_core" / "locale"


def _catalog(lang: str) -> dict[str, str]:
    with (LOCALE / lang / "LC_MESSAGES" / "errors.po").open("rb") as fh:
        return {m.id: m.string for m in read_po(fh) if m.id}


def _fields(text: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(text) if f}


def test_both_languages_have_the_same_ids_and_placeholders() -> None:
    en, zh = _catalog("en"), _catalog("zh_CN")
    assert en.keys() == zh.keys()
    for msg_id in en:
        assert en[msg_id] and zh[msg_id], msg_id
        assert _fields(en[msg_id]) == _fields(zh[msg_id]), msg_id
        assert en[msg_id] != zh[msg_id], f"{msg_id} is not translated"


_RAISED = re.compile(r'(?:Refused|Error|Exists|Owed|NotFound|Wrong|Locked|Required|Only)\(\s*"([a-z_]+\.[a-z_.]+)"')


def test_every_id_the_services_raise_has_a_text() -> None:
    en = _catalog("en")
    raised: set[str] = set()
    for path in (ROOT / "kiosk" / "services").glob("*.py"):
        raised |= set(_RAISED.findall(path.read_text(encoding="utf-8")))
    raised |= {"pin.wrong", "pin.locked", "staff.role_required", "payment.cash_staff_only",
               "reader.exists_with_live_card", "return.unknown_item", "return.not_on_loan",
               "return.already_returned", "return.ok"}
    assert len(raised) > 25
    missing = sorted(raised - en.keys())
    assert missing == []


def test_translate_fills_placeholders() -> None:
    from library_core.i18n import translate

    assert translate("pin.wrong", "zh_CN", attempts_left=2) == "密码错误，还可尝试 2 次。"
    assert translate("card.expired", "en", expires_on="2026-01-31").endswith("renew it now.")
