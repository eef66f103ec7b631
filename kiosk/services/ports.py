"""What the use cases need from the outside world. Devices and adapters implement these."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from library_core.fees import FeeSchedule
from library_core.money import Fen


class CardWriter(Protocol):
    """The card on the reader, as the use cases see it (``devices.card_reader`` implements it)."""

    def current_uid(self) -> bytes | None:
        """UID of the card on the reader now, or None."""
        ...

    def read_token(self, uid: bytes) -> bytes:
        """The raw 48 token bytes from the card's token sector. Raises CardError."""
        ...

    def write_token(self, uid: bytes, data: bytes) -> None:
        """Write 48 token bytes, read them back and compare. Raises CardWriteError on any failure."""
        ...


@dataclass(frozen=True, slots=True)
class Charge:
    transaction_id: str
    provider: str
    amount: Fen


class PaymentGateway(Protocol):
    """A mobile-payment gateway (WeChat Pay / Alipay behind one interface)."""

    def charge(self, *, code: str, amount: Fen, reference: str) -> Charge:
        """Take ``amount`` with a scanned payment code. Raises PaymentError (refused, timeout)."""
        ...

    def refund(self, charge: Charge, *, reason: str) -> None:
        """Give a charge back in full (used when a later step of the transaction fails)."""
        ...


class ConnectivityProbe(Protocol):
    """Whether the kiosk can reach the record server now (the sync loop knows)."""

    def is_online(self) -> bool:
        """True while the last sync round's push and pull were accepted by the server."""
        ...

    def out_of_service(self) -> bool:
        """True when the server refused this kiosk's credential (revoked): no payments."""
        ...


class AlwaysOnline:
    """The default probe: every payment is treated as seen by the server (no offline limit)."""

    def is_online(self) -> bool:
        return True

    def out_of_service(self) -> bool:
        return False


class StatusConnectivity:
    """Adapter over a status getter (``lambda: sync_loop.status``): online when the status
    says ``online``; offline when there is no status or it says otherwise; out of service when
    it says ``revoked``."""

    def __init__(self, status: Callable[[], object]) -> None:
        self._status = status

    def is_online(self) -> bool:
        return bool(getattr(self._status(), "online", False))

    def out_of_service(self) -> bool:
        return bool(getattr(self._status(), "revoked", False))


class FeeScheduleSource(Protocol):
    """The fee schedule in force now: the one last pulled from the record server, else the
    configured seed (``kiosk.services.fees.PulledFeeSchedule``). Quotes and charges both ask it."""

    def current(self) -> FeeSchedule:
        ...
