"""Senior mode (长者模式) under Xvfb: one large button on home; type at least 1.5 times larger;
nothing clipped and every target at least 15 mm at 1920x1080 and 1280x800 in both languages;
its own idle timeouts; it ends with the session; and, with SDL's dummy audio driver, the
expected prompt played (real espeak-ng files through Kivy's SoundLoader) at each step."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

os.environ.setdefault("SDL_AUDIODRIVER", "dummy")  # before Kivy opens audio (tests/conftest.py too)

from config.senior import MIN_TYPE_SCALE  # noqa: E402
from kiosk.ui.widgets import KButton, KLabel, StepChip  # noqa: E402
from library_core import i18n  # noqa: E402
from tests.support.kivy_app import kiosk_session, kiosk_ui  # noqa: F401, E402
from tests.support.services import resident_id  # noqa: E402
from tests.support.xvfb import xvfb_display  # noqa: F401, E402
from tests.ui.helpers import READER_PIN, id_card_of, make_id, place_id_card  # noqa: E402

pytestmark = pytest.mark.ui

MIN_TARGET_PX = 60  # 15 mm at 102 dpi (theme.py)
SIZES = ((1920, 1080), (1280, 800))


@pytest.fixture
def window(kiosk_ui) -> Iterator[Any]:  # noqa: ANN001, F811
    from kivy.core.window import Window

    old = tuple(Window.size)
    yield kiosk_ui
    Window.size = old
    kiosk_ui.app.home()
    kiosk_ui.pump(5)


def _problems(d: Any, where: str) -> list[str]:
    """Targets under 15 mm, widgets outside the window, text larger than its widget."""
    from kivy.core.window import Window
    from kivy.uix.scrollview import ScrollView

    d.pump()
    out = []
    for w in d.walk():
        if not isinstance(w, KButton | KLabel | StepChip) or w.get_root_window() is None:
            continue
        if getattr(w, "opacity", 1) == 0 or not (w.text or "").strip():
            continue
        label = f"{where}/{getattr(w, 'key', '') or w.text[:20]!r}"
        x, y = w.to_window(w.x, w.y)
        if isinstance(w, KButton) and (w.width < MIN_TARGET_PX or w.height < MIN_TARGET_PX):
            out.append(f"{label}: target {w.width:.0f}x{w.height:.0f} px")
        if x < -1 or y < -1 or x + w.width > Window.width + 1 or y + w.height > Window.height + 1:
            out.append(f"{label}: outside the window at {x:.0f},{y:.0f} {w.width:.0f}x{w.height:.0f}")
        w.texture_update()
        tw, th = w.texture_size
        if tw > w.width + 1 or th > w.height + 1:
            out.append(f"{label}: text {tw}x{th} clipped in {w.width:.0f}x{w.height:.0f}")
        scroll = next((p for p in _ancestors(w) if isinstance(p, ScrollView)), None)
        if scroll is not None:  # a line a reader would have to scroll to is clipped too
            sx, sy = scroll.to_window(scroll.x, scroll.y)
            if y < sy - 1 or y + w.height > sy + scroll.height + 1:
                out.append(f"{label}: hidden in its scroll view ({y:.0f}-{y + w.height:.0f} "
                           f"outside {sy:.0f}-{sy + scroll.height:.0f})")
    return out


def _ancestors(w: Any) -> Any:
    while w.parent is not None and w.parent is not w:
        w = w.parent
        yield w


def _walk_senior(d: Any, lang: str, serial: int) -> list[str]:
    d.app.home()
    d.pump()
    d.app.set_language(lang)
    d.press(key="home.senior")
    assert d.app.senior
    problems = _problems(d, f"{lang}/home")
    d.press(key="home.new_card")
    problems += _problems(d, f"{lang}/new_card-id_card")
    place_id_card(d, id_card_of("欧阳志远", make_id(serial)))
    d.press(key="nav.next")
    problems += _problems(d, f"{lang}/new_card-category")
    d.press(key="nav.cancel")
    # the longest path: a child's card (age and guardian lines), the guardian, the payment
    d.press(key="home.senior")
    d.press(key="home.new_card")
    place_id_card(d, id_card_of("欧阳小远", resident_id(serial, birth="20160501")))
    problems += _problems(d, f"{lang}/new_card-identity")
    d.press(key="nav.next")
    problems += _problems(d, f"{lang}/new_card-guardian")
    d.type_digits("13700001111")
    d.press(key="nav.next")
    problems += _problems(d, f"{lang}/new_card-phone")
    d.type_digits("13812345678")
    d.press(key="nav.next")
    d.type_digits(READER_PIN)
    d.press(key="nav.next")
    d.type_digits(READER_PIN)
    d.press(key="nav.next")
    problems += _problems(d, f"{lang}/new_card-payment")
    d.press(key="nav.cancel")  # home, and senior mode ended with the session
    assert not d.app.senior
    for service in ("renewal", "replacement", "fees", "returns", "visitor"):
        d.press(key="home.senior")
        d.press(key=f"home.{service}")
        problems += _problems(d, f"{lang}/{service}")
        if service == "visitor":
            d.type_pinyin("wang", "王")
            problems += _problems(d, f"{lang}/visitor-name")
        d.app.home()
        d.pump()
    return problems


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_senior_layout_fits_both_languages(window, size: tuple[int, int]) -> None:  # noqa: ANN001
    from kivy.core.window import Window

    d = window
    Window.size = size
    d.pump(5)
    assert tuple(Window.size) == size
    serial = 340 + SIZES.index(size) * 2
    problems = _walk_senior(d, "zh_CN", serial) + _walk_senior(d, "en", serial + 1)
    assert not problems, "\n".join(problems)


def test_senior_type_is_at_least_one_and_a_half_times_larger(window) -> None:  # noqa: ANN001
    d = window
    d.app.home()
    d.pump()
    plain = {k: d.find(key=k).font_size for k in ("home.new_card", "home.welcome", "home.senior")}
    d.press(key="home.new_card")
    plain_title = d.find(key="id_card.prompt.place").font_size
    plain_nav = d.find(key="nav.cancel").font_size
    d.app.home()
    d.pump()
    d.press(key="home.senior")
    assert d.app.type_scale >= MIN_TYPE_SCALE
    for key, size in plain.items():
        shown = d.find(key="home.senior_exit" if key == "home.senior" else key)
        assert shown.font_size >= MIN_TYPE_SCALE * size - 0.01, key
    assert d.find(key="home.senior_exit").height >= MIN_TARGET_PX
    assert not d.find_all(key="home.staff")  # fewer items: no staff sign-in in senior mode
    d.press(key="home.new_card")
    assert d.find(key="id_card.prompt.place").font_size >= MIN_TYPE_SCALE * plain_title - 0.01
    assert d.find(key="nav.cancel").font_size >= MIN_TYPE_SCALE * plain_nav - 0.01
    # fewer items: only the current step in the indicator
    chips = d.find_all(cls=StepChip)
    assert len(chips) == 1 and chips[0].text.startswith(f"1/{len(d.app.screen.steps)}")


def test_senior_idle_timeouts_are_longer_and_end_the_mode(window) -> None:  # noqa: ANN001
    d = window
    cfg = d.parts.settings.senior
    assert cfg.idle_warning_s > d.parts.settings.kiosk.idle_warning_s
    d.press(key="home.senior")
    d.press(key="home.new_card")
    d.advance_idle(d.parts.settings.kiosk.idle_reset_s + 1)  # past the usual reset
    assert d.app.sm.current == "new_card" and not d.app.idle_warning_open and d.app.senior
    d.advance_idle(cfg.idle_warning_s - d.parts.settings.kiosk.idle_reset_s)
    assert d.app.idle_warning_open
    d.advance_idle(cfg.idle_reset_s - cfg.idle_warning_s)
    assert d.app.sm.current == "home" and not d.app.senior and d.app.type_scale == 1.0
    # on home too, senior mode is a session that ends when idle
    d.press(key="home.senior")
    d.advance_idle(cfg.idle_reset_s + 1)
    assert not d.app.senior


@pytest.fixture(scope="module")
def audio_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from devices.voice import PROMPTS
    from devices.voice_render import render_prompts

    out = tmp_path_factory.mktemp("voice")
    render_prompts(out, prompts=PROMPTS)  # real espeak-ng, both languages
    return out


def test_prompts_spoken_at_each_step_of_a_senior_new_card(window, audio_dir: Path) -> None:  # noqa: ANN001
    from kiosk.ui.sound_player import KivyVoicePlayer

    d = window
    assert os.environ["SDL_AUDIODRIVER"] == "dummy"
    player = KivyVoicePlayer(audio_dir)
    guide = d.app.voice
    old, guide.player = guide.player, player
    try:
        d.press(key="home.new_card")  # not in senior mode: silent
        assert player.played == []
        d.app.home()
        d.pump()
        d.press(key="home.senior")
        d.press(key="home.new_card")
        d.parts.id_card_reader.place("expired")
        d.pump()
        d.parts.id_card_reader.remove()
        d.pump()
        d.parts.id_card_reader.place("senior")
        d.pump()
        d.parts.id_card_reader.remove()
        d.pump()
        assert d.app.screen.identity.categories == ("senior",), d.app.screen.error
        d.press(key="nav.next")  # senior by age: no category to choose
        d.type_digits("13612345678")
        d.press(key="nav.next")
        d.type_digits(READER_PIN)
        d.press(key="nav.next")
        d.type_digits(READER_PIN)
        d.press(key="nav.next")
        d.press(key="nav.next")  # a senior's card is free: the summary, then the blank card
        d.tap_card(b"\x04\xd2\x00\x01")
        assert d.app.sm.current == "receipt", d.app.screen.error
        assert [p for p, _lang in player.played] == [
            "home.senior_welcome", "id_card.prompt.place", "idcard.expired",
            "idcard.confirm_title", "field.phone", "field.pin_new", "field.pin_again",
            "summary.title", "card.place_blank", "newcard.done"]
        assert {lang for _p, lang in player.played} == {"zh_CN"}
        assert player.current is not None and type(player.current).__name__ == "SoundSDL2"
        # the language the reader reads is the one spoken
        d.press(key="nav.done")
        d.remove_card()
        d.press(key="home.senior")
        d.press(raw="English")
        d.press(key="home.replacement")
        assert player.played[-1] == ("id_card.prompt.place", "en")
        assert i18n.has_message("id_card.prompt.place", "en")
    finally:
        guide.player = old


def test_the_speaker_button_says_the_step_again(window, audio_dir: Path) -> None:  # noqa: ANN001
    """Everywhere but staff mode, the header's speaker button says the current step's
    instruction again, in the language on screen, with the voice off as well as on."""
    from kiosk.ui.sound_player import KivyVoicePlayer

    d = window
    player = KivyVoicePlayer(audio_dir)
    guide = d.app.voice
    old, guide.player = guide.player, player
    try:
        d.press(key="home.new_card")  # not senior mode: the voice is off, nothing said
        assert player.played == []
        d.press(key="voice.repeat")
        assert player.played == [("id_card.prompt.place", "zh_CN")]
        d.press(raw="English")
        d.press(key="voice.repeat")
        assert player.played[-1] == ("id_card.prompt.place", "en")
        assert player.current is not None and type(player.current).__name__ == "SoundSDL2"
        d.app.home()
        d.pump()
        speaker = d.find(key="voice.repeat")
        d.app.staff = SimpleNamespace(staff_no="S0001", name="王芳", role="desk")  # staff mode:
        # no speaker button, nothing said
        d.pump()
        assert speaker.disabled and speaker.opacity == 0 and speaker.width == 0
        d.app.repeat_prompt()
        assert len(player.played) == 2
    finally:
        d.app.staff = None
        d.press(raw="中文")
        guide.player = old
