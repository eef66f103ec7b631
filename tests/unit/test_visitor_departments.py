"""Host departments come from config with a name per language; pass and roster print them."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from config.settings import demo_settings_path, load_settings
from devices.receipt_layout import render_receipt
from devices.receipt_preview import parse_escpos
from kiosk.services.visitors import VisitorRequest
from library_core.errors import ConfigError
from tests.support.services import make_env


def _printed(receipt, language: str) -> str:  # type: ignore[no-untyped-def]
    job = render_receipt(dataclasses.replace(receipt, language=language), paper_width_mm=58)
    return "\n".join(line.text for line in parse_escpos(job).lines)


def test_a_department_from_config_prints_in_the_receipt_language(tmp_path: Path) -> None:
    settings = load_settings(demo_settings_path(), env={})
    local = next(d for d in settings.departments if d.code == "local_history")
    assert (local.zh_CN, local.en) == ("地方文献部", "Local history")
    env = make_env(tmp_path / "k.sqlite3", departments=settings.departments,
                   library_name_en="City Library")
    try:
        visit = env.services.visitors.register(VisitorRequest(
            name="欧阳娜娜", phone="13900001111", purpose="meeting",
            host_department="local_history", consent=True))
        roster = env.services.visitors.roster_receipt(env.services.staff.login("S0001", "246810"))
    finally:
        env.store.close()
    assert [d.code for d in env.services.visitors.departments()] == [
        d.code for d in settings.departments]
    for receipt in (visit.receipt, roster):
        zh, en = _printed(receipt, "zh_CN"), _printed(receipt, "en")
        assert "地方文献部" in zh and "local_history" not in zh
        assert "Local history" in en and "地方文献部" not in en and "local_history" not in en
    assert "会议" in _printed(visit.receipt, "zh_CN")
    assert "Meeting" in _printed(visit.receipt, "en")


BAD = [
    ('[[departments]]\ncode = "x"\nzh_CN = "办公室"\n', "departments[0].en"),
    ('[[departments]]\ncode = "Bad Code"\nzh_CN = "办公室"\nen = "Office"\n',
     "departments[0].code"),
    ('[[departments]]\ncode = "a"\nzh_CN = "甲"\nen = "A"\n'
     '[[departments]]\ncode = "a"\nzh_CN = "乙"\nen = "B"\n', "departments[1].code"),
    ('[[departments]]\ncode = "a"\nzh_CN = "甲\\u001bp"\nen = "A"\n', "departments[0].zh_CN"),
    ('[[departments]]\ncode = "a"\nzh_CN = "甲"\nen = "A"\nfloor = 3\n', "departments[0].floor"),
    ("departments = []\n", "departments"),
]


@pytest.mark.parametrize(("toml", "key"), BAD, ids=[k for _, k in BAD])
def test_a_bad_department_list_stops_start_up_naming_the_key(
    tmp_path: Path, toml: str, key: str
) -> None:
    path = tmp_path / "kiosk.toml"
    path.write_text(toml + '\n[kiosk]\nmode = "demo"\n', encoding="utf-8")
    (tmp_path / "fees.toml").write_text(
        (demo_settings_path().parent / "fees.toml").read_text("utf-8"), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    assert info.value.key == key
