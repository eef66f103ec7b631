"""The touchscreen kiosk UI (Kivy): a thin App, one ``.py`` + ``.kv`` pair per screen.

Importing this package does not import Kivy; ``kiosk.ui.app`` does.
"""
