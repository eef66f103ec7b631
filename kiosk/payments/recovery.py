"""``RecoveryLoop``: the payment recovery while the kiosk is up (issue 13), not only at start-up.

Every ``interval_s`` its own daemon thread (never the UI thread) runs
``DurablePaymentGateway.recover(older_than_s=gateway.wait_s)``: intents left open longer than
the configured wait whose screen is gone -- a reversal not confirmed, a refund the provider did
not accept, a paid mark the store refused -- are settled as at start-up; the intent a screen is
still waiting on (``gateway.active``) is never touched. A failing round is logged and the next
one tries again.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

log = logging.getLogger(__name__)

INTERVAL_S = 60.0


class RecoveryLoop:
    def __init__(self, gateway: Any, *, interval_s: float = INTERVAL_S) -> None:
        self.gateway = gateway
        self.interval_s = interval_s
        self.rounds = 0  # finished rounds (a test waits on it)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="payment-recovery", daemon=True)

    def start(self) -> RecoveryLoop:
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)

    def run_once(self) -> list[Any]:
        """One round (on the caller's thread); what it settled."""
        try:
            done: list[Any] = self.gateway.recover(older_than_s=self.gateway.wait_s)
        except Exception:
            log.exception("periodic payment recovery failed; the next round tries again")
            done = []
        for d in done:
            log.warning("payment intent %s settled while running: %s", d.out_trade_no, d.outcome)
        self.rounds += 1
        return done

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.run_once()
