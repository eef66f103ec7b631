"""What the use cases need to know about this kiosk and the library (a frozen value)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kiosk.services.ports import FeeScheduleSource
from library_core import pins
from library_core.fees import FeeSchedule
from library_core.rules import PIN_LOCKOUT_STEPS_S
from library_core.staff_rules import OfflineStaffPolicy
from library_core.visits import DEFAULT_DEPARTMENTS, Department

if TYPE_CHECKING:
    from config.settings import Settings


@dataclass(frozen=True, slots=True)
class ServicesConfig:
    """Kiosk identity, the signing key, fee schedule and the house rules the use cases apply."""

    kiosk_id: str
    kiosk_no: int
    library_key: bytes
    fees: FeeSchedule
    library_name: str = ""
    library_name_en: str = ""  # the library's name on English receipts and screens
    language: str = "zh_CN"
    opening_time: dt.time = dt.time(9, 0)
    closing_time: dt.time = dt.time(21, 0)
    pin_n: int = pins.DEFAULT_N
    pin_max_attempts: int = pins.MAX_ATTEMPTS
    pin_lockout_steps_s: tuple[int, ...] = PIN_LOCKOUT_STEPS_S  # library_core.rules.PinLockout
    offline_max_payment_fen: int = 20000  # one payment, while the record server is out of reach
    # the schedule in force (last pulled from the server); None: ``fees`` (the config seed) only
    fee_source: FeeScheduleSource | None = None
    departments: tuple[Department, ...] = DEFAULT_DEPARTMENTS  # visitors' host departments
    offline_staff: OfflineStaffPolicy = OfflineStaffPolicy()  # [staff.offline]
    ereceipt_base_url: str = ""  # [receipts]: reader receipts' QR is <this>/r/<token>; "" none

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: object) -> ServicesConfig:
        k = settings.kiosk
        values: dict[str, object] = {
            "kiosk_id": k.id, "kiosk_no": k.kiosk_no, "library_key": settings.library_key,
            "fees": settings.fees, "library_name": k.library_name,
            "library_name_en": k.library_name_en, "language": k.language,
            "opening_time": dt.time.fromisoformat(k.opening_time),
            "closing_time": dt.time.fromisoformat(k.closing_time),
            "offline_max_payment_fen": k.offline_max_payment_fen,
            "departments": settings.departments,
            "offline_staff": settings.staff.offline.policy(),
            "ereceipt_base_url": settings.receipts.ereceipt_base_url,
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]

    def fee_schedule(self) -> FeeSchedule:
        """The fee schedule to price with now: the source's current one, else the seed."""
        return self.fee_source.current() if self.fee_source is not None else self.fees

    def closing_on(self, day: dt.date, tz: dt.tzinfo | None) -> dt.datetime:
        return dt.datetime.combine(day, self.closing_time, tzinfo=tz)

    def department(self, code: str) -> Department | None:
        """The configured host department with this code (None for free text)."""
        return next((d for d in self.departments if d.code == code), None)

    def card_serial_base(self) -> int:
        """Card serials are kiosk_no * 10^8 + a local counter: unique across kiosks."""
        return self.kiosk_no * 10**8
