"""``SimulatedPaymentGateway``: a stand-in for WeChat Pay / Alipay that keeps its books.

It accepts any code ``codes.payment_provider`` recognises, refuses codes ending in a configurable
suffix (``payment.refused``), and can be told to fail (``payment.failed``) or time out
(``payment.timeout``) on the next charge. It keeps every charge and refund so tests can check
that no money was lost: ``net_taken()`` is what the library kept.
"""

from __future__ import annotations

import itertools
import logging
import threading

from kiosk.services.errors import PaymentRefused
from kiosk.services.ports import Charge
from library_core.codes import payment_provider
from library_core.errors import PaymentError, ValidationError
from library_core.money import Fen

log = logging.getLogger(__name__)


class SimulatedPaymentGateway:
    """Implements ``PaymentGateway``. Thread-safe."""

    def __init__(self, *, refuse_suffix: str = "0000") -> None:
        self.refuse_suffix = refuse_suffix
        self.charges: list[Charge] = []
        self.refunds: list[Charge] = []
        self.attempts = 0
        self._fail_next: str | None = None
        self._refund_fails = False
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def fail_next(self, how: str = "failed") -> None:
        """Make the next charge fail: ``"failed"``, ``"timeout"`` or ``"refused"``."""
        if how not in ("failed", "timeout", "refused"):
            raise ValueError(how)
        self._fail_next = how

    def refunds_fail(self, on: bool = True) -> None:
        self._refund_fails = on

    def charge(self, *, code: str, amount: Fen, reference: str) -> Charge:
        with self._lock:
            self.attempts += 1
            if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
                raise ValidationError("payment.amount", f"bad amount {amount!r}")
            provider = payment_provider(code)
            if provider is None:
                raise ValidationError("payment.code_invalid", "not a payment code")
            how, self._fail_next = self._fail_next, None
            if how == "timeout":
                raise PaymentRefused("payment.timeout", "gateway did not answer in time")
            if how == "failed":
                raise PaymentRefused("payment.failed", "gateway error")
            if how == "refused" or (self.refuse_suffix and code.endswith(self.refuse_suffix)):
                raise PaymentRefused("payment.refused", f"code refused for {reference}")
            charge = Charge(transaction_id=f"SIM{next(self._ids):010d}", provider=str(provider),
                            amount=amount)
            self.charges.append(charge)
            log.info("simulated charge %s %s fen (%s)", charge.transaction_id, amount, reference)
            return charge

    def refund(self, charge: Charge, *, reason: str) -> None:
        with self._lock:
            if self._refund_fails:
                raise PaymentError("payment.refund_failed", "gateway refused the refund")
            if charge not in self.charges:
                raise PaymentError("payment.refund_failed", f"unknown charge {charge.transaction_id}")
            if charge in self.refunds:
                raise PaymentError("payment.refund_failed", "already refunded")
            self.refunds.append(charge)
            log.info("simulated refund %s (%s)", charge.transaction_id, reason)

    def net_taken(self) -> Fen:
        with self._lock:
            return sum(c.amount for c in self.charges) - sum(c.amount for c in self.refunds)

    def kept(self) -> list[Charge]:
        """Charges not refunded."""
        with self._lock:
            return [c for c in self.charges if c not in self.refunds]
