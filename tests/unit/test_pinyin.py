"""Pinyin candidates: the index read line by line from pypinyin's data file is the one the
whole file gives, and a file in another layout is still read."""

from __future__ import annotations

import json
from pathlib import Path

from kiosk.ui import pinyin


def _whole_file_readings(path: Path) -> dict[str, str]:
    wanted = pinyin.level1_chars()
    whole = json.loads(path.read_text(encoding="utf-8"))
    return {chr(int(k)): v for k, v in whole.items() if chr(int(k)) in wanted}


def test_level1_is_gb2312_rows_b0_to_d7() -> None:
    chars = pinyin.level1_chars()
    assert len(chars) == 3755
    assert "啊" in chars and "座" in chars  # first and last of level 1
    assert "亍" not in chars  # level 2


def test_line_reading_gives_the_whole_files_index() -> None:
    path = pinyin.data_file()
    read = pinyin.readings(path, pinyin.level1_chars())
    assert read == _whole_file_readings(path)
    assert pinyin.build_index(read) == pinyin.build_index(_whole_file_readings(path))


def test_another_layout_is_read_whole(tmp_path: Path) -> None:
    compact = tmp_path / "pinyin_dict.json"
    compact.write_text(json.dumps({str(ord("李")): "lǐ", str(ord("亍")): "chù",
                                   str(ord("张")): "zhāng,zhàng"}), encoding="utf-8")
    assert pinyin.readings(compact, pinyin.level1_chars()) == {"李": "lǐ", "张": "zhāng,zhàng"}


def test_candidates_put_common_surnames_first() -> None:
    assert pinyin.candidates("li")[0] == "李"
    assert pinyin.candidates("zhang")[0] == "张"
    assert pinyin.candidates("") == []
    assert all(len(c) == 1 for c in pinyin.candidates("zh", limit=40))
