"""Drive the running kiosk app like a reader would: touches on real widgets, device events from
the simulators, idle time from a fake clock, screenshots. Used by the UI tests and the demo."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any


class FakeMonotonic:
    """The UI's idle clock, moved by tests instead of sleeping."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds



def _touch(x: float, y: float) -> Any:
    """One touch at window position (x, y), as ``kivy.tests.common.UnitTestTouch`` makes it.
    Not that class: ``kivy.tests`` imports pytest and unittest (about 5 MB), which the demo's
    and bench 6's kiosk process would then carry though no kiosk loads them."""
    from kivy.base import EventLoop
    from kivy.input.motionevent import MotionEvent

    class Touch(MotionEvent):  # type: ignore[misc]  # Kivy ships no type hints
        def depack(self, args: dict[str, float]) -> None:
            self.sx, self.sy = args["x"], args["y"]
            super().depack(args)

    win = EventLoop.window
    touch = Touch("UiDriverTouch", 99, {"x": x / (win.width - 1.0), "y": y / (win.height - 1.0)},
                  is_touch=True, type_id="touch")
    touch.profile = ["pos"]
    return touch


class UiDriver:
    """Drives the running app like a reader would."""

    def __init__(self, app: Any, parts: Any) -> None:
        self.app = app
        self.parts = parts

    # ---- pumping ----
    def step(self, *, system_events: bool = False) -> None:
        """One frame; with ``system_events`` also the window's pending system events (real
        keys from X, as ``App.run`` does per loop iteration). Touches from tests need none."""
        from kivy.base import EventLoop

        EventLoop.idle()
        if system_events and EventLoop.window is not None:
            EventLoop.window.mainloop()

    def pump(self, frames: int = 3, *, until_idle: bool = True, limit: int = 2000) -> None:
        """Run Kivy frames; with ``until_idle`` also until background work has called back."""
        import time

        for _ in range(frames):
            self.step()
        n = 0
        while until_idle and (self.app.bridge.busy or getattr(self.app.screen, "busy", False)):
            self.step()
            time.sleep(0.005)
            n += 1
            if n > limit:
                raise AssertionError("UI stayed busy")
        for _ in range(2):  # nested layouts settle over two frames
            self.step()

    def pump_until(self, cond: Callable[[], object], what: str, *, limit_s: float = 60.0,
                   until_idle: bool = True) -> None:
        """Pump until ``cond()`` (device threads and background work deliver in their own
        time), then once more: what a thread hands over in a pump's last frame builds its
        screen there, and that screen is laid out only in the frames after (a touch before
        would land where its buttons are not yet). Bounded: fails saying what the screen shows."""
        import time

        deadline = time.monotonic() + limit_s
        while not cond():
            if time.monotonic() > deadline:
                screen = self.app.screen
                raise AssertionError(
                    f"{what}: not reached on {self.app.sm.current} step "
                    f"{getattr(screen, 'step', '?')} (toast {self.app.toast!r}, error "
                    f"{getattr(screen, 'error', '')!r}, staff {self.app.staff!r}, senior "
                    f"{self.app.senior!r}); it shows:\n{self.texts()}")
            self.pump(1, until_idle=until_idle)
            time.sleep(0.01)
        self.pump(until_idle=until_idle)

    # ---- finding and touching ----
    def walk(self, root: Any = None) -> Iterator[Any]:
        from kivy.core.window import Window

        root = root or Window
        stack = list(root.children)
        while stack:
            w = stack.pop()
            yield w
            stack.extend(w.children)

    def find_all(self, *, key: str | None = None, raw: str | None = None,
                 cls: type | None = None) -> list[Any]:
        out = []
        for w in self.walk():
            if key is not None and getattr(w, "key", None) != key:
                continue
            if raw is not None and getattr(w, "raw", None) != raw:
                continue
            if cls is not None and not isinstance(w, cls):
                continue
            if w.get_root_window() is None or getattr(w, "opacity", 1) == 0:
                continue
            out.append(w)
        return out

    def find(self, **kw: Any) -> Any:
        found = self.find_all(**kw)
        if not found:
            raise AssertionError(f"no visible widget with {kw} on {self.app.sm.current}")
        return found[0]

    def tap(self, widget: Any, *, must_land: bool = True) -> None:
        """Touch ``widget`` at its centre. An enabled button must then be released (pressed):
        if the touch went to something on top of it (a modal view, a widget laid over it), or
        the button has not been laid out where it is drawn, this says so here rather than a
        later step failing for want of what the press should have shown."""
        import time

        from kivy.base import EventLoop
        from kivy.uix.behaviors import ButtonBehavior

        watch = must_land and isinstance(widget, ButtonBehavior) and not widget.disabled
        released: list[bool] = []
        uid = widget.fbind("on_release", lambda *_a: released.append(True)) if watch else None
        x, y = widget.to_window(*widget.center)
        touch = _touch(x, y)
        try:
            EventLoop.post_dispatch_input("begin", touch)
            EventLoop.post_dispatch_input("end", touch)
            # a ScrollView hands its release on 0.2 s later by Kivy's clock, which a loaded
            # machine's slow frames can stretch far in wall time: the bound only ends a miss
            deadline = time.monotonic() + 10.0
            while watch and not released and time.monotonic() < deadline:
                self.step()
                time.sleep(0.01)
        finally:
            if uid is not None:
                widget.unbind_uid("on_release", uid)
        if watch and not released:
            from kivy.core.window import Window

            drawn_at = tuple(widget.to_window(*widget.center))
            self.pump()
            raise AssertionError(
                f"(after a pump its centre is at {tuple(widget.to_window(*widget.center))}, "
                f"was {drawn_at}) "
                f"touch at ({x:.0f}, {y:.0f}) did not press {type(widget).__name__} "
                f"{getattr(widget, 'key', '') or getattr(widget, 'raw', '')!r} on "
                f"{self.app.sm.current}; it is at {widget.pos} size {widget.size} in a "
                f"{Window.size} window with {[type(c).__name__ for c in Window.children]}; "
                f"the touch went to {[type(w()).__name__ for w in touch.grab_list if w()]}")
        self.pump()

    def press(self, key: str | None = None, raw: str | None = None) -> None:
        self.tap(self.find(key=key, raw=raw))

    def type_digits(self, digits: str) -> None:
        for ch in digits:
            self.press(raw=ch)

    def type_pinyin(self, syllable: str, char: str) -> None:
        for ch in syllable:
            self.press(raw=ch.upper())
        self.press(raw=char)

    def texts(self) -> str:
        """Every visible label and button text, joined (what the screen shows)."""
        return "\n".join(str(getattr(w, "text", "")) for w in self.walk()
                         if getattr(w, "text", "") and getattr(w, "opacity", 1) != 0)

    # ---- devices ----
    def scan(self, text: str) -> None:
        self.parts.scanner.scan(text)
        self.pump()

    def tap_card(self, uid: bytes, data: bytes | None = None) -> None:
        self.parts.card_reader.tap(uid, data)
        self.pump()

    def remove_card(self) -> None:
        self.parts.card_reader.remove()
        self.pump()

    def advance_idle(self, seconds: float) -> None:
        self.parts.monotonic.advance(seconds)
        self.app.check_idle()
        self.pump()

    def screenshot(self, path: Path) -> Path:
        from kivy.core.window import Window

        self.pump()
        path.parent.mkdir(parents=True, exist_ok=True)
        Window.screenshot(name=str(path))
        # Window.screenshot inserts a counter: find the newest file next to the wanted name
        made = sorted(path.parent.glob(path.stem + "*.png"), key=lambda p: p.stat().st_mtime)
        if made and made[-1] != path:
            made[-1].replace(path)
        return path


