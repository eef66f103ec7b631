"""Run the production wiring ``kiosk.app_runtime.run(config)`` and walk one flow in it.

Used by ``test_app_runtime.py`` as ``python -m tests.ui.kiosk_walk CONFIG RESULT.json BARCODE``.
Before ``run`` builds the app, a walker thread is started; it waits for the running app, then does
each step on the Kivy thread (``Clock.schedule_once``) like a reader would: home -> returns, scan
the item on the configured (simulated) scanner, finish, done. It writes what the screen showed to
RESULT.json and stops the app, so ``run`` returns its exit code.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

STEP_LIMIT_S = 30.0


def on_kivy(fn: Callable[[], Any]) -> Any:
    """Run ``fn`` on the Kivy thread and return its result (re-raises its error)."""
    from kivy.clock import Clock

    done = threading.Event()
    box: dict[str, Any] = {}

    def call(_dt: float) -> None:
        try:
            box["value"] = fn()
        except BaseException as err:  # handed back to the walker thread
            box["error"] = err
        done.set()

    Clock.schedule_once(call, 0)
    if not done.wait(STEP_LIMIT_S):
        raise TimeoutError("the Kivy thread did not run the step")
    if "error" in box:
        raise box["error"]
    return box.get("value")


def wait_for(check: Callable[[], Any]) -> Any:
    deadline = time.monotonic() + STEP_LIMIT_S
    while time.monotonic() < deadline:
        value = on_kivy(check)
        if value:
            return value
        time.sleep(0.05)
    raise TimeoutError("condition never held")


def walk(result_path: str, barcode: str) -> None:
    from kivy.app import App
    from kivy.tests.common import UnitTestTouch

    from kiosk.ui.driver import UiDriver

    out: dict[str, Any] = {"steps": []}
    app: Any = None
    try:
        deadline = time.monotonic() + STEP_LIMIT_S
        while (app := App.get_running_app()) is None or getattr(app, "sm", None) is None:
            if time.monotonic() > deadline:
                raise TimeoutError("the app never started")
            time.sleep(0.05)
        d = UiDriver(app, None)

        def tap(key: str) -> None:
            def press() -> None:
                widget = d.find(key=key)
                x, y = widget.to_window(*widget.center)
                touch = UnitTestTouch(x, y)
                touch.touch_down()
                touch.touch_up()
            on_kivy(press)

        def texts() -> str:
            return str(on_kivy(d.texts))

        wait_for(lambda: app.sm.current == "home" and app.server_state != "status.unknown")
        out["home"] = texts()
        out["server_state"] = on_kivy(lambda: app.server_state)
        tap("home.returns")
        wait_for(lambda: app.sm.current == "returns")
        app.ctx.backend.scanner.scan(barcode)  # the configured simulated scanner, as a scan
        wait_for(lambda: barcode in d.texts() or "returns.line" in repr(
            [getattr(w, "key", "") for w in d.walk()]))
        out["returns"] = texts()
        tap("returns.finish")
        out["screen"] = wait_for(lambda: app.sm.current if app.sm.current == "receipt" else "")
        out["receipt"] = texts()
        tap("nav.done")
        wait_for(lambda: app.sm.current == "home")
        out["ok"] = True
    except BaseException:
        out["error"] = traceback.format_exc()
    finally:
        with open(result_path, "w", encoding="utf-8") as fh:
            json.dump(out, fh, ensure_ascii=False)
        if app is not None:
            on_kivy(app.stop)


def main(argv: list[str]) -> int:
    config, result, barcode = argv
    threading.Thread(target=walk, args=(result, barcode), name="walker", daemon=True).start()
    from kiosk.app_runtime import run

    return run(config, fullscreen=False)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
