"""``DurablePaymentGateway``: a ``PaymentGateway`` that never charges twice and never charges
without a record.

1. An intent (out-trade-number, provider, amount, what it pays for) is committed in the kiosk
   store before the provider is called (``server_client.store.intents``).
2. The provider's answer moves it on: paid -> ``paid`` (the use case then books the payment in
   its own transaction and ``charged`` calls ``settled``: ``booked``); waiting for the payer
   (USERPAYING / WAIT_BUYER_PAY) or no usable answer -> queried every ``query_interval_s`` while
   ``PaymentProgress`` events count down; nothing within ``wait_s`` -> reversed (WeChat reverse
   / Alipay cancel) and ``payment.reversed`` ("nothing was taken") raised.
3. A later step fails -> ``refund`` (``refunded``; ``refund_failed`` is retried by recovery).
4. ``recover()`` at start-up, and every ``RecoveryLoop`` period while the kiosk is up (then
   only intents older than ``wait_s`` that no screen is waiting on: ``active``): every intent
   left open is queried and settled. Not paid -> reversed; paid and in our books (the use case
   committed) -> ``booked``; paid and not in our books (the use case was rolled back: a card
   write cannot be replayed) -> booked as an unapplied payment and refunded through the
   provider, the refund booked too (``kiosk.payments.books``: why a refund and not the
   reader's credit) -- each booking in the transaction that moves the intent, so nothing is
   booked twice however often recovery runs or is killed.

``on_settled`` hooks run after a payment is booked (e.g. telling the library system the fee was
paid); a failing hook is logged and never undoes the payment.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from kiosk.payments.books import UnappliedBooks, out_refund_no
from kiosk.payments.provider import PaymentProvider, ProviderAnswer, TradeState
from kiosk.services.errors import PaymentRefused
from kiosk.services.ports import Charge
from library_core.clock import Clock
from library_core.contract import trade_no
from library_core.errors import PaymentError, StoreError, ValidationError
from library_core.money import Fen
from server_client.store.intents import Intent

log = logging.getLogger(__name__)

REVERSE_TRIES = 3


class Intents(Protocol):
    def next_seq(self) -> int: ...
    def create(self, intent: Intent, *, at: dt.datetime) -> None: ...
    def move(self, out_trade_no: str, state: str, *, at: dt.datetime, transaction_id: str = "",
             detail: str = "") -> None: ...
    def get(self, out_trade_no: str) -> Intent | None: ...
    def unfinished(self) -> list[Intent]: ...
    def booked(self, transaction_id: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class PaymentProgress:
    """Shown while a payment is open: ``waiting`` (confirm on your phone), ``checking`` (no
    answer yet), ``reversing``, ``done``; ``seconds_left`` of the wait."""

    state: str
    seconds_left: int
    out_trade_no: str


@dataclass(frozen=True, slots=True)
class Recovered:
    out_trade_no: str
    outcome: str  # booked | refunded | reversed | failed | pending


class DurablePaymentGateway:
    """Implements ``PaymentGateway`` over a ``PaymentProvider``. Raises PaymentRefused
    (``payment.refused``, ``payment.reversed``, ``payment.uncertain``), PaymentError
    (``payment.refund_failed``), ValidationError."""

    def __init__(self, provider: PaymentProvider, intents: Intents, clock: Clock, *,
                 kiosk_no: int, wait_s: float = 30.0, query_interval_s: float = 2.0,
                 subject: str = "图书馆缴费 Library fees",
                 sleep: Callable[[float], None] = time.sleep,
                 monotonic: Callable[[], float] = time.monotonic,
                 books: UnappliedBooks | None = None) -> None:
        self.provider = provider
        self.intents = intents
        self.clock = clock
        self.kiosk_no = kiosk_no
        self.wait_s = wait_s
        self.query_interval_s = query_interval_s
        self.subject = subject
        self.sleep = sleep
        self.monotonic = monotonic
        self.on_settled: list[Callable[[Intent], None]] = []
        self._watchers: list[Callable[[object], None]] = []
        self._lock = threading.Lock()
        # recovery books unapplied payments and their refunds; None: refunded, not booked
        self.books = books
        self._active: set[str] = set()  # intents a screen is still waiting on (charge..settle)
        self._provider_lock = threading.Lock()  # one provider call at a time (one session)
        self._recover_lock = threading.Lock()

    # ---- observers -------------------------------------------------------------------------
    def subscribe(self, fn: Callable[[object], None]) -> Callable[[], None]:
        """``fn(PaymentProgress)`` from the paying thread; returns the unsubscribe."""
        with self._lock:
            self._watchers.append(fn)
        return lambda: self._watchers.remove(fn) if fn in self._watchers else None

    def _progress(self, state: str, left: float, otn: str) -> None:
        with self._lock:
            watchers = list(self._watchers)
        event = PaymentProgress(state, max(0, math.ceil(left)), otn)
        for fn in watchers:
            try:
                fn(event)
            except Exception:
                log.exception("payment progress watcher failed")

    # ---- the provider, with no exception escaping ------------------------------------------
    def _ask(self, what: str, fn: Callable[[], ProviderAnswer]) -> ProviderAnswer:
        try:
            with self._provider_lock:
                return fn()
        except PaymentError as err:  # unreachable, bad signature: not an answer to act on
            log.warning("%s %s: %s (%s)", self.provider.name, what, err.message_id, err.detail)
            return ProviderAnswer(TradeState.UNKNOWN, code=err.message_id or "")

    # ---- PaymentGateway --------------------------------------------------------------------
    def charge(self, *, code: str, amount: Fen, reference: str) -> Charge:
        if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
            raise ValidationError("payment.amount", f"bad amount {amount!r}")
        now = self.clock.now()
        otn = trade_no.make(self.kiosk_no, now.strftime("%y%m%d"), self.intents.next_seq(),
                           reference, amount)
        with self._lock:
            self._active.add(otn)
        try:
            self.intents.create(Intent(otn, self.provider.name, amount, reference, "open"),
                                at=now)
            log.info("payment intent %s: %s fen by %s (%s)", otn, amount, self.provider.name,
                     reference)
            return self._charge(otn, code, amount)
        except BaseException:
            self._done(otn)
            raise

    @property
    def active(self) -> frozenset[str]:
        """The intents a screen is waiting on: from ``charge`` until ``settled`` / ``refund``."""
        with self._lock:
            return frozenset(self._active)

    def _done(self, otn: str) -> None:
        with self._lock:
            self._active.discard(otn)

    def _charge(self, otn: str, code: str, amount: Fen) -> Charge:
        answer = self._ask("pay", lambda: self.provider.pay(
            out_trade_no=otn, auth_code=code, amount=amount, subject=self.subject))
        deadline = self.monotonic() + self.wait_s
        while answer.state in (TradeState.WAITING, TradeState.UNKNOWN):
            left = deadline - self.monotonic()
            if left <= 0:
                break
            self._progress("waiting" if answer.state is TradeState.WAITING else "checking",
                           left, otn)
            self.sleep(min(self.query_interval_s, left))
            answer = self._ask("query", lambda: self.provider.query(otn))
        if answer.state is TradeState.PAID and answer.amount not in (0, amount):
            log.error("intent %s: provider took %s fen, %s asked: reversing", otn, answer.amount,
                      amount)
            answer = ProviderAnswer(TradeState.UNKNOWN, code="amount_differs")
        if answer.state is TradeState.PAID:
            try:
                self.intents.move(otn, "paid", at=self.clock.now(),
                                  transaction_id=answer.transaction_id)
            except StoreError:  # taken, and we cannot even say so: give it back at once
                self._refund_unrecorded(otn, amount)
                raise
            self._progress("done", 0, otn)
            return Charge(transaction_id=answer.transaction_id, provider=self.provider.name,
                          amount=amount, out_trade_no=otn)
        if answer.state is TradeState.FAILED:
            self.intents.move(otn, "failed", at=self.clock.now(), detail=answer.code)
            self._progress("done", 0, otn)
            raise PaymentRefused("payment.refused", f"{otn}: {answer.code}")
        self._progress("reversing", 0, otn)
        if self._reverse(otn):
            self._progress("done", 0, otn)
            raise PaymentRefused("payment.reversed", f"{otn}: not paid in time, reversed")
        self._progress("done", 0, otn)
        raise PaymentRefused("payment.uncertain", f"{otn}: reversal not confirmed; retried later")

    def _reverse(self, otn: str) -> bool:
        """Reverse/cancel ``otn``; True when the provider confirmed (intent ``reversed``)."""
        for attempt in range(REVERSE_TRIES):
            answer = self._ask("reverse", lambda: self.provider.reverse(otn))
            if answer.state is TradeState.FAILED:
                self.intents.move(otn, "reversed", at=self.clock.now(), detail=answer.code)
                log.info("intent %s reversed (%s)", otn, answer.code)
                return True
            if attempt + 1 < REVERSE_TRIES:
                self.sleep(self.query_interval_s)
        self.intents.move(otn, "open", at=self.clock.now(), detail="reverse pending")
        log.error("intent %s: reversal not confirmed; left open for recovery", otn)
        return False

    def refund(self, charge: Charge, *, reason: str) -> None:
        try:
            intent = self.intents.get(charge.out_trade_no)
            if intent is None or intent.state not in ("paid", "refund_failed"):
                raise PaymentError("payment.refund_failed",
                                   f"no refundable intent {charge.out_trade_no}")
            self._refund(intent, reason)
        finally:
            self._done(charge.out_trade_no)

    def _refund(self, intent: Intent, reason: str) -> None:
        """Refund ``intent`` (its refund number is one per trade). An unapplied payment (booked
        by recovery) gets its refund booked; a failure leaves it ``unapplied`` for the next
        round, any other intent ``refund_failed``."""
        otn = intent.out_trade_no
        answer = self._ask("refund", lambda: self.provider.refund(
            out_trade_no=otn, out_refund_no=out_refund_no(intent), amount=intent.amount,
            total=intent.amount))
        if answer.state is TradeState.PAID:
            if intent.payment_id and self.books is not None:
                self.books.book_refund(intent)
            else:
                self.intents.move(otn, "refunded", at=self.clock.now(), detail=reason[:200])
            log.warning("intent %s refunded (%s)", otn, reason)
            return
        self.intents.move(otn, "unapplied" if intent.payment_id else "refund_failed",
                          at=self.clock.now(), detail=reason[:200])
        raise PaymentError("payment.refund_failed", f"{otn}: refund not accepted ({answer.code})")

    def _refund_unrecorded(self, otn: str, amount: Fen) -> None:
        """The provider took ``amount`` but the store refused the intent's update: refund with
        no store write (the intent stays ``open``; recovery finds the trade refunded)."""
        answer = self._ask("refund", lambda: self.provider.refund(
            out_trade_no=otn, out_refund_no=otn + "R", amount=amount, total=amount))
        if answer.state is TradeState.PAID:
            log.error("intent %s: store failed after the provider took %s fen; refunded", otn, amount)
        else:
            log.critical("intent %s: store failed after the provider took %s fen and the refund "
                         "was not accepted; recovery retries at start-up", otn, amount)

    def settled(self, charge: Charge) -> None:
        """The use case committed the payment: the intent is ``booked``; then the hooks."""
        self._done(charge.out_trade_no)
        intent = self.intents.get(charge.out_trade_no)
        if intent is None:
            return
        self.intents.move(intent.out_trade_no, "booked", at=self.clock.now())
        for hook in list(self.on_settled):
            try:
                hook(intent)
            except Exception:
                log.exception("settle hook failed for %s (the payment stands)", intent.out_trade_no)

    # ---- recovery: at start-up and periodically -------------------------------------------
    def recover(self, *, older_than_s: float | None = None) -> list[Recovered]:
        """Settle every intent left open by a crash or a lost answer (see the module doc).
        ``older_than_s`` (the periodic round): only intents created at least that long ago by
        the clock, and never one a screen is waiting on (``active``)."""
        with self._recover_lock:
            done: list[Recovered] = []
            now = self.clock.now()
            for intent in self.intents.unfinished():
                if intent.provider != self.provider.name:
                    continue  # another gateway's intent (the config changed): left for a human
                if older_than_s is not None and not self._stale(intent, now, older_than_s):
                    continue
                done.append(Recovered(intent.out_trade_no, self._recover_one(intent)))
                log.warning("recovered payment intent %s: %s", intent.out_trade_no,
                            done[-1].outcome)
            return done

    def _stale(self, intent: Intent, now: dt.datetime, older_than_s: float) -> bool:
        if intent.out_trade_no in self.active:
            return False
        try:
            created = dt.datetime.fromisoformat(intent.created_at)
        except ValueError:
            return True
        return (now - created).total_seconds() >= older_than_s

    def _recover_one(self, intent: Intent) -> str:
        otn = intent.out_trade_no
        if intent.state == "open":
            answer = self._ask("query", lambda: self.provider.query(otn))
            if answer.state is TradeState.FAILED and answer.code in ("ORDERNOTEXIST",
                                                                     "ACQ.TRADE_NOT_EXIST"):
                self.intents.move(otn, "failed", at=self.clock.now(), detail=answer.code)
                return "failed"
            if answer.state is TradeState.PAID and answer.amount not in (0, intent.amount):
                log.error("intent %s: provider says %s fen were taken, %s asked: reversing", otn,
                          answer.amount, intent.amount)  # never booked: given back whole
                answer = ProviderAnswer(TradeState.UNKNOWN, code="amount_differs")
            if answer.state is not TradeState.PAID:
                return "reversed" if self._reverse(otn) else "pending"
            self.intents.move(otn, "paid", at=self.clock.now(),
                              transaction_id=answer.transaction_id)
            intent = self.intents.get(otn) or intent
        if not intent.payment_id:  # paid (or a refund not accepted), not booked by us yet
            tid = intent.transaction_id
            if tid and self.intents.booked(tid):  # the use case committed it
                self.intents.move(otn, "booked", at=self.clock.now())
                return "booked"
            if self.books is not None and tid:  # (no trade id: nothing to book it under)
                intent = self.books.book_payment(intent)
        try:
            self._refund(intent, "recovery: paid at the provider, the paid-for action did not "
                                 "happen")
        except PaymentError:
            return "pending"
        return "refunded"
