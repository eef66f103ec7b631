"""One ``.py`` + ``.kv`` pair per screen; ``all_screens()`` builds them for the App."""

from __future__ import annotations

from typing import Any


def all_screens() -> list[Any]:
    from kiosk.ui.screens.fees import FeesScreen
    from kiosk.ui.screens.home import HomeScreen
    from kiosk.ui.screens.new_card import NewCardScreen
    from kiosk.ui.screens.receipt import ReceiptScreen
    from kiosk.ui.screens.renewal import RenewalScreen
    from kiosk.ui.screens.replacement import ReplacementScreen
    from kiosk.ui.screens.returns import ReturnsScreen
    from kiosk.ui.screens.staff import StaffScreen
    from kiosk.ui.screens.visitor import VisitorScreen

    return [
        HomeScreen(name="home"),
        NewCardScreen(name="new_card"),
        RenewalScreen(name="renewal"),
        ReplacementScreen(name="replacement"),
        FeesScreen(name="fees"),
        ReturnsScreen(name="returns"),
        VisitorScreen(name="visitor"),
        StaffScreen(name="staff"),
        ReceiptScreen(name="receipt"),
    ]
