"""Pinyin to Chinese characters for name entry, from pypinyin's character data.

Candidates are the common characters (GB 2312 level 1, about 3,700) whose pinyin, without tones,
equals the typed syllable (first) or starts with it (after), with common surname characters first.
"""

from __future__ import annotations

import functools
import unicodedata

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


def _is_level1(char: str) -> bool:
    try:
        raw = char.encode("gb2312")
    except UnicodeEncodeError:
        return False
    return len(raw) == 2 and 0xB0 <= raw[0] <= 0xD7


def _pinyin_dict() -> dict[int, str]:
    """pypinyin's character readings, read from its data file without importing the package:
    ``import pypinyin`` also loads its 2.5 MB phrase dictionary (about 45 MB in memory)."""
    import importlib.util
    import json
    from pathlib import Path

    spec = importlib.util.find_spec("pypinyin")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("pypinyin is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "pinyin_dict.json"
    return {int(k): v for k, v in json.loads(path.read_text(encoding="utf-8")).items()}


@functools.lru_cache(maxsize=1)
def _index() -> dict[str, list[str]]:
    pinyin_dict = _pinyin_dict()
    index: dict[str, list[str]] = {}
    rank = {c: i for i, c in enumerate(COMMON_SURNAMES)}
    chars: list[tuple[int, int, str, list[str]]] = []
    for code, readings in pinyin_dict.items():
        char = chr(code)
        if not _is_level1(char):
            continue
        syllables = sorted({_strip_tone(r) for r in readings.split(",") if r})
        gb = int.from_bytes(char.encode("gb2312"), "big")
        chars.append((rank.get(char, len(rank)), gb, char, syllables))
    chars.sort()
    for _rank, _gb, char, syllables in chars:
        for syllable in syllables:
            index.setdefault(syllable, []).append(char)
    return index


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
