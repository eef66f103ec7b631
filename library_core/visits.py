"""Visitor registration vocabulary: the purposes a visitor can pick and the host departments.

Purposes are a fixed list (each has a message id ``purpose.<code>`` on screen and
``receipt.purpose.<code>`` on paper). Departments differ per library: they come from config,
each with its name in both languages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PURPOSES: tuple[str, ...] = ("reading", "meeting", "event", "delivery", "other")
DEPARTMENT_CODE = re.compile(r"[a-z][a-z0-9_]{0,31}")


@dataclass(frozen=True, slots=True)
class Department:
    """A host department: a stable code (stored, synced) and its name in zh_CN and en."""

    code: str
    zh_CN: str
    en: str

    def names(self) -> dict[str, str]:
        """The name per language, as a receipt carries it."""
        return {"zh_CN": self.zh_CN, "en": self.en}

    def name(self, language: str) -> str:
        return self.en if language == "en" else self.zh_CN


DEFAULT_DEPARTMENTS: tuple[Department, ...] = (
    Department("office", "办公室", "Office"),
    Department("reading_room", "阅览室", "Reading room"),
    Department("archives", "档案室", "Archives"),
    Department("it", "信息部", "IT"),
    Department("other", "其他", "Other"),
)
