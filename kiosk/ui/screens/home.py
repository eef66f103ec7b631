"""Home: six large service buttons, senior mode, the "tap your card" prompt, staff sign-in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kivy.lang import Builder
from kivy.properties import BooleanProperty

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


PAYING_SERVICES = frozenset({"new_card", "renewal", "replacement", "fees"})


class HomeScreen(BaseScreen):
    # the record server refused this kiosk (token revoked): the banner shows, paying services
    # are switched off (the services refuse the payment too)
    out_of_service = BooleanProperty(False)

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        app = self.app
        if app is not None:
            app.bind(server_state=self._on_server_state)
            self._on_server_state(app, app.server_state)

    def _on_server_state(self, _app: Any, state: str) -> None:
        self.out_of_service = state == "status.server.revoked"

    def has_session(self) -> bool:
        """Senior mode on home is a session: it ends when idle, like any other."""
        return bool(self.app.senior)

    def toggle_senior(self) -> None:
        if self.app.senior:
            self.app.home()
            return
        self.app.start_senior()
        self.app.prompt("home.senior_welcome")

    def open_service(self, name: str) -> None:
        if self.out_of_service and name in PAYING_SERVICES:
            self.app.show_message("service.out_of_service")
            return
        self.app.go(name)

    def on_card(self, card: Any) -> bool:
        """A reader card tapped on the home screen opens that reader's account (renewal)."""
        if self.out_of_service:
            self.app.show_message("service.out_of_service")
            return True
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
