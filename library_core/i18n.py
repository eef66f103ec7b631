"""Translations: gettext catalogs (zh_CN, en) compiled with Babel, keyed by message id.

Message ids are keys (``receipt.total``, ``error.card.lost``), never source sentences; each
catalog domain is one area of the product (``errors``, ``receipt``, ``ui``) with one ``.po`` file
per language under ``library_core/locale/<lang>/LC_MESSAGES/<domain>.po``. ``.po`` files are compiled to
``.mo`` with Babel on first use when the ``.mo`` is missing or older. Placeholders are named
``{field}`` and filled with ``str.format``; a missing translation falls back to English, then to
the id itself (so a gap is visible, never a crash).
"""

from __future__ import annotations

import gettext
import logging
import threading
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
LANGUAGES = ("zh_CN", "en")
DEFAULT_LANGUAGE = "zh_CN"

_lock = threading.Lock()
_cache: dict[str, list[gettext.GNUTranslations]] = {}


def domains() -> list[str]:
    return sorted(p.stem for p in (LOCALE_DIR / "en" / "LC_MESSAGES").glob("*.po"))


def compile_catalogs(locale_dir: Path = LOCALE_DIR) -> list[Path]:
    """Compile every ``.po`` under ``locale_dir`` whose ``.mo`` is missing or older. Babel is
    imported only when one is (about 2 MB the kiosk would otherwise keep for nothing)."""
    written = []
    for po in sorted(locale_dir.glob("*/LC_MESSAGES/*.po")):
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        from babel.messages.mofile import write_mo
        from babel.messages.pofile import read_po

        with po.open("rb") as fh:
            catalog = read_po(fh, locale=po.parent.parent.name)
        tmp = mo.with_suffix(".mo.tmp")
        with tmp.open("wb") as fh:
            write_mo(fh, catalog, use_fuzzy=False)
        tmp.replace(mo)
        written.append(mo)
    return written


def _translations(language: str) -> list[gettext.GNUTranslations]:
    with _lock:
        if language not in _cache:
            try:
                compile_catalogs()
            except (ImportError, OSError) as err:  # read-only install: use what is compiled
                log.warning("could not compile catalogs: %s", err)
            found = []
            for domain in domains():
                mo = LOCALE_DIR / language / "LC_MESSAGES" / f"{domain}.mo"
                if mo.exists():
                    with mo.open("rb") as fh:
                        found.append(gettext.GNUTranslations(fh))
            _cache[language] = found
        return _cache[language]


def reset_cache() -> None:
    with _lock:
        _cache.clear()


def translate(message_id: str, language: str = DEFAULT_LANGUAGE, **params: Any) -> str:
    """The text for ``message_id`` in ``language`` with ``{fields}`` filled in."""
    for lang in (language, "en"):
        for catalog in _translations(lang):
            text = catalog._catalog.get(message_id)  # type: ignore[attr-defined]
            if isinstance(text, str) and text:
                try:
                    return text.format(**params) if params else text
                except (KeyError, IndexError, ValueError):
                    log.warning("bad placeholders in %s/%s", lang, message_id)
                    return text
    return message_id


def translate_plural(message_id: str, n: int, language: str = DEFAULT_LANGUAGE,
                     **params: Any) -> str:
    """The form of ``message_id`` for the count ``n`` (gettext's ngettext on the catalog's
    Plural-Forms: one form in Chinese, two in English: ``1 difference``, ``2 differences``),
    with ``{n}`` and ``{fields}`` filled in. Falls back like :func:`translate`. In a ``.po``
    the id is its own ``msgid_plural``."""
    for lang in (language, "en"):
        for catalog in _translations(lang):
            if (message_id, 0) in catalog._catalog:  # type: ignore[attr-defined]
                text = catalog.ngettext(message_id, message_id, n)
                try:
                    return text.format(n=n, **params)
                except (KeyError, IndexError, ValueError):
                    log.warning("bad placeholders in %s/%s", lang, message_id)
                    return text
    return message_id


def has_message(message_id: str, language: str) -> bool:
    return any(
        isinstance(c._catalog.get(message_id), str)  # type: ignore[attr-defined]
        for c in _translations(language)
    )
