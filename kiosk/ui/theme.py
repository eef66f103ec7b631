"""Colours, sizes and the one CJK font used for both languages.

Sizes are in Kivy ``dp``; at 1920x1080 on 21.5" (about 102 dpi) 15 mm is about 60 px, so every
touch target is at least ``TOUCH_MIN`` (64 dp) high.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

CJK_FONT_PATHS = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
)
FONT_NAME = "KioskCJK"

# High-contrast palette (RGBA 0..1): dark text on white, white text on deep blue / green / red.
BG = (0.97, 0.97, 0.96, 1)
PANEL = (1, 1, 1, 1)
TEXT = (0.07, 0.07, 0.09, 1)
MUTED = (0.25, 0.27, 0.30, 1)
PRIMARY = (0.05, 0.28, 0.63, 1)
PRIMARY_TEXT = (1, 1, 1, 1)
OK = (0.05, 0.45, 0.18, 1)
WARN = (0.75, 0.38, 0.0, 1)
DANGER = (0.70, 0.07, 0.07, 1)
NEUTRAL = (0.85, 0.86, 0.88, 1)
STRIP_BG = (0.12, 0.13, 0.16, 1)

TOUCH_MIN = 64  # dp: 15 mm at about 102 dpi is 60 px
FONT_S = 20
FONT_M = 26
FONT_L = 34
FONT_XL = 44


def font_path() -> str:
    """The first CJK font found. Raises FileNotFoundError naming the paths tried."""
    override = os.environ.get("KIOSK_CJK_FONT")
    for candidate in ((override,) if override else ()) + CJK_FONT_PATHS:
        if Path(candidate).exists():
            return candidate
    raise FileNotFoundError(f"no CJK font found (tried {', '.join(CJK_FONT_PATHS)})")


def register_fonts() -> str:
    """Register the CJK font as ``KioskCJK`` and as Kivy's default ``Roboto`` (so every label
    uses it). Returns the font file."""
    from kivy.core.text import LabelBase

    path = font_path()
    for name in (FONT_NAME, "Roboto"):
        LabelBase.register(name=name, fn_regular=path, fn_bold=path, fn_italic=path, fn_bolditalic=path)
    log.debug("registered CJK font %s", path)
    return path
