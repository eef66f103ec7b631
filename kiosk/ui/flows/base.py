"""What every flow helper of the UI backend shares: the collaborators, a wired service by name,
and printing a finished transaction's receipt."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from kiosk.ui.flows.results import NotAvailable, Outcome
from library_core.receipts import Receipt


class FlowBase:
    """Attributes the ``Backend`` sets; the flow helpers only read them (at call time, so a
    test may swap the store or the services after construction)."""

    settings: Any
    clock: Any
    store: Any
    services: dict[str, Any]
    card_reader: Any
    printer: Any
    sync_status: Callable[[], Any] | None
    app: Any
    poll_status: Callable[[], None]

    # ---- printing ----------------------------------------------------------------------------
    def print(self, receipt: Receipt, language: str, lines: list[Any]) -> Outcome:
        """Print in the reader's language; a printer fault still completes (QR on screen)."""
        from devices.printer import print_and_report
        from server_client.store import StoreReceiptJournal

        receipt = dataclasses.replace(receipt, language=language)
        result = print_and_report(self.printer, receipt,
                                  journal=StoreReceiptJournal(self.store, self.clock))
        self.app.bridge.post(self.poll_status) if self.app is not None else None
        return Outcome(receipt, bool(result.ok), "" if result.ok else (result.message_id or "printer.error"),
                       tuple(lines))

    # ---- services that other modules provide -------------------------------------------------
    def _service(self, name: str) -> Any:
        svc = self.services.get(name)
        if svc is None:
            raise NotAvailable(None, f"{name} service not wired")
        return svc
