"""The thin Kivy App: screens, language, status strip, idle timers, staff session.

Business rules live in ``kiosk.services``; screens reach them through ``app.ctx`` (a
``UiContext`` built by ``kiosk.app_runtime``) and run them off the Kivy thread with
``app.bridge.run_async``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kiosk.ui import theme
from library_core import i18n

# glibc raises its mmap threshold after every large free (up to 32 MB): a PIN's scrypt (16 MB)
# or a big texture upload then makes later image buffers come from the heap, which fragments
# and never shrinks. A fixed threshold keeps them in mmap, given back when freed (measured:
# 265-282 MB after every flow became 248 MB, steady). Set before Kivy makes its window.
M_MMAP_THRESHOLD = -3  # mallopt parameter number, glibc's malloc.h
MMAP_THRESHOLD_BYTES = 128 * 1024  # glibc's own default, but fixed


def fix_mmap_threshold() -> bool:
    """Fix glibc's mmap threshold (no-op, False, where there is no glibc ``mallopt``)."""
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))


fix_mmap_threshold()
theme.register_fonts()

from kivy.app import App  # noqa: E402
from kivy.clock import Clock  # noqa: E402
from kivy.core.window import Window  # noqa: E402
from kivy.lang import Builder  # noqa: E402
from kivy.properties import (  # noqa: E402
    BooleanProperty,
    NumericProperty,
    ObjectProperty,
    StringProperty,
)
from kivy.uix.boxlayout import BoxLayout  # noqa: E402
from kivy.uix.modalview import ModalView  # noqa: E402
from kivy.uix.screenmanager import NoTransition, ScreenManager  # noqa: E402

from kiosk.ui import widgets  # noqa: E402,F401  (loads widgets.kv)
from kiosk.ui.bridge import UiBridge  # noqa: E402

log = logging.getLogger(__name__)

Builder.load_file(str(Path(__file__).with_name("app.kv")))

# Screens kept built between sessions: home, and the screen a card tapped on home opens (so the
# tap is drawn without building it). The others are built when first used and dropped when the
# session ends, with their label textures (software rendering keeps them in ordinary memory).
KEPT_SCREENS = ("home", "renewal")
RELEASE_DELAY_S = 0.5  # after going home: drop unused screens, collect, give memory back


def screen_classes() -> dict[str, Callable[..., Any]]:
    """Every screen's class by its name (imports the modules, which load their ``.kv`` rules)."""
    from kiosk.ui.screens.fees import FeesScreen
    from kiosk.ui.screens.home import HomeScreen
    from kiosk.ui.screens.new_card import NewCardScreen
    from kiosk.ui.screens.receipt import ReceiptScreen
    from kiosk.ui.screens.renewal import RenewalScreen
    from kiosk.ui.screens.replacement import ReplacementScreen
    from kiosk.ui.screens.returns import ReturnsScreen
    from kiosk.ui.screens.staff import StaffScreen
    from kiosk.ui.screens.visitor import VisitorScreen

    return {"home": HomeScreen, "new_card": NewCardScreen, "renewal": RenewalScreen,
            "replacement": ReplacementScreen, "fees": FeesScreen, "returns": ReturnsScreen,
            "visitor": VisitorScreen, "staff": StaffScreen, "receipt": ReceiptScreen}


def _load_malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim`` (gives freed heap pages back to the system), None elsewhere."""
    try:
        name = ctypes.util.find_library("c") or "libc.so.6"
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


_malloc_trim = _load_malloc_trim()


# Kivy caches that hold a finished session's images and text for a minute: emptied on release
RELEASED_CACHES = ("kv.image", "kv.texture", "kv.loader", "textinput.label", "textinput.width")


def release_memory() -> None:
    """Empty Kivy's per-session caches, collect unreachable widgets (they hold reference
    cycles) and trim glibc's heap."""
    from kivy.cache import Cache

    registered = getattr(Cache, "_categories", {})
    for category in RELEASED_CACHES:
        if category in registered:  # purging an unregistered one would break Kivy's timeouts
            Cache.remove(category)
    gc.collect()
    if _malloc_trim is not None:
        try:
            _malloc_trim(0)
        except OSError:  # never let memory housekeeping take the kiosk down
            log.debug("malloc_trim failed", exc_info=True)


@dataclass
class UiContext:
    """Everything the screens use, built by ``kiosk.app_runtime`` (or a test)."""

    backend: Any  # kiosk.ui.backend.Backend
    language: str = i18n.DEFAULT_LANGUAGE
    library_name: str = "市图书馆"
    library_name_en: str = "City Library"
    idle_warning_s: float = 45.0
    idle_reset_s: float = 60.0
    staff_idle_s: float = 120.0
    senior: Any = None  # config.senior.SeniorSection (type scale, idle timeouts, voice)
    voice: Any = None  # kiosk.ui.voice.PromptPlayer: prompts by message id (None: silent)
    monotonic: Callable[[], float] = time.monotonic  # idle timers (tests move it)
    key_clock: Callable[[], float] = time.monotonic  # keystroke timing: always the real clock
    key_sink: Callable[[str, float, int], None] | None = None  # keyboard-wedge scanner input:
    # key, time read, the loop's frame counter then
    on_stop: list[Callable[[], None]] = field(default_factory=list)


class IdleWarning(ModalView):
    seconds_left = NumericProperty(15)


class KioskRoot(BoxLayout):
    pass


class KioskApp(App):
    """The kiosk app. ``t(key, lang)`` in ``.kv`` re-translates when ``lang`` changes."""

    lang = StringProperty(i18n.DEFAULT_LANGUAGE)
    reader_state = StringProperty("status.unknown")
    reader_level = StringProperty("unknown")
    printer_state = StringProperty("status.unknown")
    printer_level = StringProperty("unknown")
    server_state = StringProperty("status.unknown")
    server_level = StringProperty("unknown")
    payment_state = StringProperty("status.unknown")  # "demo (simulated)" in demo mode
    payment_level = StringProperty("unknown")
    ils_state = StringProperty("")  # "" no ILS; else kiosk.ui.ils_status
    ils_level = StringProperty("unknown")
    ils_queued = NumericProperty(0)
    queued = NumericProperty(0)
    staff = ObjectProperty(None, allownone=True)
    idle_warning_open = BooleanProperty(False)
    toast = StringProperty("")
    senior = BooleanProperty(False)  # senior mode (长者模式): large type, voice, slower timeouts
    type_scale = NumericProperty(1.0)  # every KLabel / KButton font size is multiplied by it

    def __init__(self, ctx: UiContext, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ctx = ctx
        self.lang = ctx.language
        self.bridge = UiBridge()
        self.title = "Library Kiosk"
        self._last_activity = ctx.monotonic()
        self._idle_view: IdleWarning | None = None
        self.sm: ScreenManager | None = None
        from kiosk.ui.voice import VoiceGuide

        self.voice = VoiceGuide(ctx.voice)

    # ---- translation ---------------------------------------------------------------------
    def t(self, key: str, lang: str | None = None, **params: Any) -> str:
        if not key:
            return ""
        lang = lang or self.lang
        try:
            # a ``<name>_key`` parameter is a message id: translated here, in the same language,
            # so labels naming categories or fee kinds re-translate at once on a switch
            for name, value in list(params.items()):
                if name.endswith("_key") and isinstance(value, str):
                    params[name[:-4]] = i18n.translate(value, lang)
            return i18n.translate(key, lang, **params)
        except Exception:  # a broken catalog must not take the kiosk down: show the id
            log.exception("translation of %s failed", key)
            return key

    def set_language(self, lang: str) -> None:
        self.lang = lang
        self.touch_activity()

    def toggle_language(self) -> None:
        self.set_language("en" if self.lang == "zh_CN" else "zh_CN")

    # ---- build ---------------------------------------------------------------------------
    def build(self) -> KioskRoot:
        Window.clearcolor = theme.BG
        root = KioskRoot()
        self.sm = root.ids.sm
        self.sm.transition = NoTransition()
        self._screen_classes = screen_classes()
        for name in KEPT_SCREENS:
            self.get_screen(name)
        self.sm.current = "home"
        self._release_trigger = Clock.create_trigger(self._release_screens, RELEASE_DELAY_S)
        Window.bind(on_touch_down=self._on_any_touch, on_key_down=self._on_key_down)
        Clock.schedule_interval(self.check_idle, 0.5)
        self.ctx.backend.start(self)
        return root

    def on_stop(self) -> None:
        for fn in self.ctx.on_stop:
            try:
                fn()
            except Exception:
                log.exception("stop hook failed")
        self.bridge.close()

    # ---- navigation ----------------------------------------------------------------------
    def get_screen(self, name: str) -> Any:
        """The screen called ``name``, built (and added) now if it is not alive."""
        assert self.sm is not None
        if not self.sm.has_screen(name):
            self.sm.add_widget(self._screen_classes[name](name=name))
        return self.sm.get_screen(name)

    def go(self, name: str, **kwargs: Any) -> None:
        assert self.sm is not None
        screen = self.get_screen(name)
        if self.sm.current != name:
            old = self.sm.current_screen
            if hasattr(old, "deactivate"):
                old.deactivate()
        self.sm.current = name
        if hasattr(screen, "activate"):
            screen.activate(**kwargs)
        self.touch_activity()

    @property
    def screen(self) -> Any:
        assert self.sm is not None
        return self.sm.current_screen

    def home(self) -> None:
        """Back to the home screen with every reader session wiped."""
        assert self.sm is not None
        for screen in self.sm.screens:
            if hasattr(screen, "reset"):
                screen.reset()
        self.sm.current = "home"
        self.toast = ""
        self.end_senior()  # senior mode ends with the session
        self._close_idle_warning()
        self.touch_activity()
        if self.staff is not None:
            self.go("staff")
        self._release_trigger()

    def _release_screens(self, _dt: float = 0.0) -> None:
        """Drop the screens a new session does not need at once (wiped already by ``home``),
        so their widgets and textures are freed; they are built again when next used."""
        assert self.sm is not None
        if self.sm.current not in ("home", "staff"):
            return  # a new session started meanwhile: released on its way home
        keep = {*KEPT_SCREENS, self.sm.current}
        dropped = [s for s in self.sm.screens if s.name not in keep]
        if not dropped:
            return
        for screen in dropped:
            self.sm.remove_widget(screen)
        log.debug("released screens %s", ", ".join(s.name for s in dropped))
        del dropped, screen
        release_memory()

    def show_message(self, key: str, **params: Any) -> None:
        self.toast = self.t(key, **params)
        self.prompt(key)

    # ---- senior mode and voice -------------------------------------------------------------
    def start_senior(self) -> None:
        """Senior mode for this session: type ``type_scale`` times larger, fewer items per
        screen, the senior idle timeouts, prompts spoken (``[senior] voice``)."""
        from config.senior import SeniorSection

        cfg = self.ctx.senior or SeniorSection()
        self.type_scale = float(cfg.type_scale)
        self.senior = True
        self.voice.enabled = bool(cfg.voice) and self.staff is None
        self.touch_activity()
        log.info("senior mode on")

    def end_senior(self) -> None:
        if self.senior:
            log.info("senior mode off")
        self.senior = False
        self.type_scale = 1.0
        self.voice.enabled = False

    def prompt(self, key: str) -> None:
        """Speak the instruction or refusal ``key`` in the current language, when the voice is
        on (senior mode, never in staff mode)."""
        if self.staff is None:
            self.voice.say(key, self.lang)

    def repeat_prompt(self) -> None:
        """The speaker button: say the current step's instruction again, even with the voice
        off (outside senior mode it is the reader asking); silent in staff mode."""
        if self.staff is None:
            self.touch_activity()
            self.voice.repeat(self.lang)

    def idle_limits(self) -> tuple[float, float]:
        """(warning, reset) idle seconds: the senior ones in senior mode."""
        cfg = self.ctx.senior
        if self.senior and cfg is not None:
            return float(cfg.idle_warning_s), float(cfg.idle_reset_s)
        return self.ctx.idle_warning_s, self.ctx.idle_reset_s

    # ---- idle ----------------------------------------------------------------------------
    def _on_any_touch(self, *_a: Any) -> None:
        self.touch_activity()

    def touch_activity(self) -> None:
        self._last_activity = self.ctx.monotonic()
        if self._idle_view is not None and not self._closing_idle:
            self._close_idle_warning()

    _closing_idle = False

    def idle_seconds(self) -> float:
        return self.ctx.monotonic() - self._last_activity

    def check_idle(self, _dt: float = 0.0) -> None:
        """Warn after ``idle_warning_s``, go home (session wiped) after ``idle_reset_s``;
        log staff out after ``staff_idle_s``."""
        idle = self.idle_seconds()
        if self.staff is not None:
            if idle >= self.ctx.staff_idle_s:
                log.info("staff %s logged out after %.0f s idle", self.staff.staff_no, idle)
                self.ctx.backend.staff_logout(self.staff, reason="idle")
                self.staff = None
                self.home()
            return
        assert self.sm is not None
        if self.sm.current == "home" and not self.screen.has_session():
            self._close_idle_warning()
            return
        warning_s, reset_s = self.idle_limits()
        if idle >= reset_s:
            log.info("session wiped after %.0f s idle", idle)
            self.home()
        elif idle >= warning_s:
            left = max(0, int(round(reset_s - idle)))
            if self._idle_view is None:
                self._idle_view = IdleWarning(auto_dismiss=False)
                self._idle_view.open(animation=False)
                self.idle_warning_open = True
            self._idle_view.seconds_left = left

    def _close_idle_warning(self) -> None:
        if self._idle_view is not None:
            self._closing_idle = True
            try:
                self._idle_view.dismiss(animation=False)
            finally:
                self._closing_idle = False
            self._idle_view = None
        self.idle_warning_open = False

    def keep_going(self) -> None:
        self._close_idle_warning()
        self.touch_activity()

    # ---- keyboard-wedge scanner ------------------------------------------------------------
    def _on_key_down(self, _window: Any, key: int, _scancode: int, codepoint: str | None, _mods: Any) -> bool:
        """Every physical key goes to the wedge scanner, never into a text field."""
        sink = self.ctx.key_sink
        if sink is None:
            return False
        now = self.ctx.key_clock()
        if key == 13:
            sink("\n", now, Clock.frames)
        elif codepoint:
            sink(codepoint, now, Clock.frames)
        return True

    # ---- staff -----------------------------------------------------------------------------
    def staff_logout(self) -> None:
        if self.staff is not None:
            self.ctx.backend.staff_logout(self.staff, reason="button")
        self.staff = None
        self.home()
