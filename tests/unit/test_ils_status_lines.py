"""What the fees and renewal screens say of a patron's ILS status (one function each, no I/O):
SIP2's 14 patron status flags by name, and the ILS's own text shown as sent, but for control
characters and length (a hostile or broken ILS cannot draw on the screen)."""

from __future__ import annotations

from kiosk.services.circulation import PATRON_FLAGS, PatronAccount, patron_flags
from kiosk.ui.flows.ils_fees import SHOWN_MAX, ils_status_lines, shown
from library_core import i18n


def test_each_of_the_14_flags_has_its_position_and_a_text_in_both_languages() -> None:
    assert len(PATRON_FLAGS) == 14 == len(set(PATRON_FLAGS))
    for i, name in enumerate(PATRON_FLAGS):
        assert patron_flags(" " * i + "Y" + " " * (13 - i)) == (name,)
        zh, en = (i18n.translate(f"ils.flag.{name}", lang) for lang in ("zh_CN", "en"))
        assert zh != en and not zh.startswith("ils.") and not en.startswith("ils.")
    assert patron_flags(" " * 14) == () and patron_flags("") == ()
    assert patron_flags("YY") == ("charge_denied", "renewal_denied")


def test_the_ils_text_is_shown_as_sent_without_control_characters() -> None:
    account = PatronAccount("P1", "张三", True, True, 0, flags=("renewal_denied",),
                            screen_messages=("请到服务台\r\x1b[2J / see the desk", "   "),
                            print_lines=("欠费 " + "很" * 500,))
    lines = ils_status_lines(account)
    assert lines[:2] == [("ils.flags_title", {}), ("ils.flag.renewal_denied", {})]
    assert lines[2] == ("ils.says", {"text": "请到服务台  [2J / see the desk"})
    assert len(lines) == 4  # the blank message is left out
    assert lines[3][0] == "ils.prints" and len(lines[3][1]["text"]) == SHOWN_MAX
    assert shown("  红楼梦 逾期 ") == "红楼梦 逾期"
