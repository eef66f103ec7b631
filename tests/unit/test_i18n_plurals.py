"""Counts in sentences take the language's plural form (gettext ngettext on each catalog's
Plural-Forms): every plural entry has as many forms as its language has (Chinese one, English
two), each with the same fields, and ``translate_plural`` picks the form for the count."""

from __future__ import annotations

import string

import pytest
from babel.messages.pofile import read_po

from library_core import i18n

NPLURALS = {"zh_CN": 1, "en": 2}


def _plural_entries(lang: str) -> dict[tuple[str, str], tuple[str, ...]]:
    out = {}
    for po in sorted((i18n.LOCALE_DIR / lang / "LC_MESSAGES").glob("*.po")):
        with po.open("rb") as fh:
            catalog = read_po(fh, locale=lang)
        for msg in catalog:
            if msg.id and msg.pluralizable:
                assert catalog.num_plurals == NPLURALS[lang], (po, catalog.plural_forms)
                out[(po.stem, msg.id[0])] = tuple(msg.string)
    return out


def _fields(text: str) -> set[str]:
    return {f for _l, f, _s, _c in string.Formatter().parse(text) if f is not None}


def test_plural_entries_have_every_form_with_the_same_fields_in_both_languages() -> None:
    zh, en = _plural_entries("zh_CN"), _plural_entries("en")
    assert ("console_reports", "console.fin.differences") in en
    assert zh.keys() == en.keys()
    for key, forms in en.items():
        assert len(forms) == 2 and all(forms), key
        assert len(zh[key]) == 1 and zh[key][0], key
        assert _fields(forms[0]) == _fields(forms[1]) == _fields(zh[key][0]), key


@pytest.mark.parametrize(("n", "en", "zh"), [
    (0, "0 differences", "0 处不符"), (1, "1 difference", "1 处不符"),
    (2, "2 differences", "2 处不符"), (11, "11 differences", "11 处不符")])
def test_the_count_picks_the_form(n: int, en: str, zh: str) -> None:
    assert i18n.translate_plural("console.fin.differences", n, "en") == en
    assert i18n.translate_plural("console.fin.differences", n, "zh_CN") == zh


def test_an_unknown_plural_id_shows_itself() -> None:
    assert i18n.translate_plural("console.fin.no_such", 2, "en") == "console.fin.no_such"
