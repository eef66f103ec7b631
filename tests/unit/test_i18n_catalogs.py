"""Every gettext domain under library_core/locale: each message has both translations (zh_CN, en), no
empty ones, and each translation keeps exactly the source's ``{placeholders}``."""

from __future__ import annotations

import string
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from library_core import i18n

LOCALE = Path(i18n.LOCALE_DIR)
LANGS = ("zh_CN", "en")


def _domains() -> list[str]:
    names: set[str] = set()
    for lang in LANGS:
        names |= {p.stem for p in (LOCALE / lang / "LC_MESSAGES").glob("*.po")}
    return sorted(names)


def _catalog(lang: str, domain: str) -> dict[str, str]:
    path = LOCALE / lang / "LC_MESSAGES" / f"{domain}.po"
    assert path.exists(), f"{path} is missing"
    with path.open("rb") as fh:
        cat = read_po(fh, locale=lang)
    return {str(m.id): str(m.string) for m in cat if m.id}


def _fields(text: str) -> set[str]:
    return {name for _lit, name, _spec, _conv in string.Formatter().parse(text) if name is not None}


def test_there_are_domains() -> None:
    assert {"common", "ui"} <= set(_domains())


@pytest.mark.parametrize("domain", _domains())
def test_both_languages_have_every_message(domain: str) -> None:
    zh, en = _catalog("zh_CN", domain), _catalog("en", domain)
    assert set(zh) == set(en), f"{domain}: only zh_CN {sorted(set(zh) - set(en))}, only en {sorted(set(en) - set(zh))}"
    empty = [f"{lang}/{k}" for lang, cat in (("zh_CN", zh), ("en", en)) for k, v in cat.items() if not v.strip()]
    assert not empty, f"{domain}: empty translations {empty}"


@pytest.mark.parametrize("domain", _domains())
def test_translations_keep_placeholders(domain: str) -> None:
    zh, en = _catalog("zh_CN", domain), _catalog("en", domain)
    bad = [k for k in zh if k in en and _fields(zh[k]) != _fields(en[k])]
    assert not bad, f"{domain}: placeholders differ in {bad}"


@pytest.mark.parametrize("domain", _domains())
def test_chinese_catalog_is_chinese(domain: str) -> None:
    """Most zh_CN messages hold Chinese characters (a copied English catalog fails)."""
    zh = _catalog("zh_CN", domain)
    chinese = [v for v in zh.values() if any("\u4e00" <= c <= "\u9fff" for c in v)]
    assert len(chinese) >= len(zh) * 0.5, f"{domain}: only {len(chinese)} of {len(zh)} are Chinese"


def test_translate_fills_fields_in_both_languages() -> None:
    assert i18n.translate("status.queued", "en", count=3) == "Queued: 3"
    assert i18n.translate("status.queued", "zh_CN", count=3) == "待同步：3"
