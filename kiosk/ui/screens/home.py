"""Home: six large service buttons, the "tap your card" prompt, staff sign-in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kivy.lang import Builder

from kiosk.ui.screens.base import BaseScreen

Builder.load_file(str(Path(__file__).with_name("home.kv")))

SERVICES = (
    ("new_card", "home.new_card"),
    ("renewal", "home.renewal"),
    ("replacement", "home.replacement"),
    ("fees", "home.fees"),
    ("returns", "home.returns"),
    ("visitor", "home.visitor"),
)


class HomeScreen(BaseScreen):
    def open_service(self, name: str) -> None:
        self.app.go(name)

    def on_card(self, card: Any) -> bool:
        """A reader card tapped on the home screen opens that reader's account (renewal)."""
        self.app.go("renewal", card=card)
        return True

    def on_scan(self, scan: Any) -> bool:
        kind = getattr(scan, "kind", "")
        if kind == "item":
            self.app.go("returns", first_scan=scan)
            return True
        if kind == "visitor_pass":
            self.app.go("visitor", sign_out=scan)
            return True
        if kind == "staff_card":
            self.app.go("staff", staff_scan=scan)
            return True
        return False
