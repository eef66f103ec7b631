"""Use cases: each takes its collaborators in the constructor and runs one atomic transaction.

``KioskServices`` wires them together from one store, clock, payment gateway and card writer.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from kiosk.services.cards import CardService
from kiosk.services.circulation import CirculationDesk, Forwarder
from kiosk.services.common import OfflineLimit
from kiosk.services.config import ServicesConfig
from kiosk.services.fees import FeeService, PulledFeeSchedule
from kiosk.services.ils_account import IlsAccountService
from kiosk.services.ils_cards import IlsCardService
from kiosk.services.ports import (
    AlwaysOnline,
    CardWriter,
    ConnectivityProbe,
    FeeScheduleSource,
    PaymentGateway,
    ReaderPinVerifier,
    RepositorySource,
    StaffAuthority,
)
from kiosk.services.returns import ReturnService
from kiosk.services.staff import StaffService
from kiosk.services.visitors import VisitorService
from library_core.clock import Clock


@dataclass(frozen=True)
class KioskServices:
    cards: CardService
    fees: FeeService
    returns: ReturnService
    visitors: VisitorService
    staff: StaffService
    store: RepositorySource
    fee_schedule: FeeScheduleSource  # what quotes and charges price from (one source)
    ils: IlsAccountService | None = None  # with a SIP2 ILS: its patrons' accounts and fines
    forwarder: Forwarder | None = None  # ... and its offline queue


def build_services(store: RepositorySource, clock: Clock, gateway: PaymentGateway, writer: CardWriter,
                   config: ServicesConfig, *,
                   connectivity: ConnectivityProbe | None = None,
                   reader_pins: ReaderPinVerifier | None = None,
                   staff_authority: StaffAuthority | None = None,
                   desk: CirculationDesk | None = None) -> KioskServices:
    """``connectivity`` (default: always online) says whether the record server is reachable;
    while it is not, one payment above ``config.offline_max_payment_fen`` is refused.
    ``reader_pins`` checks readers' PINs at the record server (none: replacement refused);
    ``staff_authority`` checks staff log-ins there (none: staff log-in refused); ``desk``
    (``kiosk.services.circulation``) puts returns, ILS fines and lost cards at the ILS."""
    repos = store.repositories()
    offline = OfflineLimit(connectivity or AlwaysOnline(), config.offline_max_payment_fen)
    # every use case prices from the schedule last pulled; the config's schedule seeds it
    source = config.fee_source or PulledFeeSchedule(repos, config.fees, clock)
    config = dataclasses.replace(config, fee_source=source)
    ils = IlsAccountService(desk, repos, clock, gateway, config, offline=offline) if desk else None
    cards = (IlsCardService if desk else CardService)(repos, clock, gateway, writer, config,
                                                     offline=offline, reader_pins=reader_pins)
    if isinstance(cards, IlsCardService):
        cards.ils_account = ils
    return KioskServices(
        cards=cards,
        fees=FeeService(repos, clock, gateway, config, offline=offline),
        returns=ReturnService(repos, clock, config, desk=desk),
        visitors=VisitorService(repos, clock, config),
        staff=StaffService(repos, clock, config, authority=staff_authority),
        store=store,
        fee_schedule=source,
        ils=ils,
        forwarder=Forwarder(desk, clock) if desk else None,
    )


__all__ = ["ConnectivityProbe", "KioskServices", "OfflineLimit", "ServicesConfig", "build_services"]
