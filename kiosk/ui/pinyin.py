"""Pinyin to Chinese characters for name entry, from pypinyin's character data.

Candidates are the common characters (GB 2312 level 1, about 3,700) whose pinyin, without tones,
equals the typed syllable (first) or starts with it (after), with common surname characters first.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import unicodedata
from pathlib import Path

# The most common surname characters: shown first when they match.
COMMON_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
    "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵"
    "万钱严覃武戴莫孔向汤"
)


def _strip_tone(syllable: str) -> str:
    decomposed = unicodedata.normalize("NFD", syllable)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return plain.replace("ü", "v").lower()


def level1_chars() -> frozenset[str]:
    """The GB 2312 level-1 characters (rows 0xB0-0xD7, 3,755 of them)."""
    chars = set()
    for hi in range(0xB0, 0xD8):
        for lo in range(0xA1, 0xFF):
            try:
                chars.add(bytes((hi, lo)).decode("gb2312"))
            except UnicodeDecodeError:  # the end of row 0xD7 is unassigned
                continue
    return frozenset(chars)


def readings(path: Path, wanted: frozenset[str]) -> dict[str, str]:
    """The readings (``"lǐ,li"``) of the ``wanted`` characters in pypinyin's data file. The file
    holds one entry per line: only the wanted lines are decoded. ``json.loads`` of the whole file
    (about 41,000 entries, 3,755 wanted) peaked at 9 MB of Python objects, which left the kiosk's
    heap 10 MB bigger for good after the first name typed (freed, but in arenas shared with
    objects that stay). A file in any other layout is read whole."""
    out: dict[str, str] = {}
    with path.open(encoding="utf-8") as f:
        for line in f:
            entry = line.strip().rstrip(",")
            if entry in ("", "{", "}"):
                continue
            key, sep, value = entry.partition(":")
            code = key.strip().strip('"')
            if not sep or not code.isdigit():
                whole = json.loads(path.read_text(encoding="utf-8"))
                return {chr(int(k)): v for k, v in whole.items() if chr(int(k)) in wanted}
            char = chr(int(code))
            if char in wanted:
                out[char] = json.loads(value)
    return out


def data_file() -> Path:
    """pypinyin's character readings file, found without importing the package:
    ``import pypinyin`` also loads its 2.5 MB phrase dictionary (about 45 MB in memory)."""
    spec = importlib.util.find_spec("pypinyin")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("pypinyin is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pinyin_dict.json"


def build_index(char_readings: dict[str, str]) -> dict[str, list[str]]:
    """Toneless syllable -> characters, common surnames first, then in GB 2312 order."""
    index: dict[str, list[str]] = {}
    rank = {c: i for i, c in enumerate(COMMON_SURNAMES)}
    chars: list[tuple[int, int, str, list[str]]] = []
    for char, text in char_readings.items():
        syllables = sorted({_strip_tone(r) for r in text.split(",") if r})
        gb = int.from_bytes(char.encode("gb2312"), "big")
        chars.append((rank.get(char, len(rank)), gb, char, syllables))
    chars.sort()
    for _rank, _gb, char, syllables in chars:
        for syllable in syllables:
            index.setdefault(syllable, []).append(char)
    return index


@functools.lru_cache(maxsize=1)
def _index() -> dict[str, list[str]]:
    return build_index(readings(data_file(), level1_chars()))


def candidates(typed: str, limit: int = 40) -> list[str]:
    """Characters for the typed pinyin (``"zhang"`` -> ``["张", "章", ...]``)."""
    key = typed.strip().lower().replace("ü", "v")
    if not key:
        return []
    index = _index()
    out: list[str] = list(index.get(key, []))
    seen = set(out)
    for syllable in sorted(index):
        if syllable != key and syllable.startswith(key):
            for char in index[syllable]:
                if char not in seen:
                    seen.add(char)
                    out.append(char)
        if len(out) >= limit:
            break
    return out[:limit]
