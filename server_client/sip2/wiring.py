"""The kiosk's ILS link from ``[circulation]``: the SIP2 client, the circulation desk (adapter,
durable queue, offline policy) and forwarding the queue whenever the link comes back."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from kiosk.services.circulation import CirculationDesk, Forwarder, OfflinePolicy
from library_core.clock import Clock
from server_client.sip2.circulation import Sip2Circulation
from server_client.sip2.client import IlsLink, Sip2Client, Sip2Login
from server_client.sip2.queue import StoreForwardQueue
from server_client.sip2.wire import Endpoint
from server_client.store.connection import StoreCore

log = logging.getLogger(__name__)


@dataclass
class IlsRuntime:
    client: Sip2Client
    desk: CirculationDesk
    forwarder: Forwarder

    def start(self) -> None:
        """Heartbeat on; the queue is forwarded each time the link comes up (on its own
        thread: a reader's check-in never waits for the queue)."""
        self.client.subscribe(self._on_link)
        self.client.start()

    def close(self) -> None:
        self.client.close()

    def _on_link(self, link: IlsLink) -> None:
        if link.up and self.desk.queue.pending_count():
            threading.Thread(target=self.forward_now, name="sip2-forward", daemon=True).start()

    def forward_now(self) -> tuple[int, int]:
        done, refused = self.forwarder.forward()
        if done or refused:
            log.info("ILS queue forwarded: %s accepted, %s refused", done, refused)
        return done, refused


def build_ils(section: Any, store: StoreCore, clock: Clock) -> IlsRuntime:
    """From a checked ``config.sip2.CirculationSection`` (adapter ``sip2``)."""
    endpoint = Endpoint(section.host, section.port, encoding=section.encoding, tls=section.tls,
                        ca_file=section.ca_file, verify_tls=section.verify_tls,
                        checksum_lenient=section.checksum_lenient)
    if section.checksum_lenient:
        log.warning("SIP2 checksum-lenient mode is on: answers with a wrong checksum are accepted")
    client = Sip2Client(endpoint, Sip2Login(section.login_user, section.password,
                                            section.location_code, section.institution_id,
                                            section.terminal_password),
                        clock, timeout_s=section.timeout_s, heartbeat_s=section.heartbeat_s)
    desk = CirculationDesk(Sip2Circulation(client), StoreForwardQueue(store),
                           OfflinePolicy(section.offline_policy), section.offline_cap)
    return IlsRuntime(client, desk, Forwarder(desk, clock))
