"""Argument checks for the CLI, on top of library_core.codes."""

from __future__ import annotations

from library_core.codes import is_kiosk_id, is_staff_no
from library_core.errors import ValidationError


def kiosk_id(value: str) -> str:
    if not is_kiosk_id(value):
        raise ValidationError("kiosk.id", f"kiosk id must look like K01, got {value!r}")
    return value


def staff_no(value: str) -> str:
    if not is_staff_no(value):
        raise ValidationError("staff.no", f"staff number must look like S0001, got {value!r}")
    return value
