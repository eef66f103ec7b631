"""What a mobile-payment provider adapter does, and what it answers."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

from library_core.errors import PaymentError
from library_core.money import Fen


class TradeState(enum.StrEnum):
    """A provider's answer, reduced to what the lifecycle acts on."""

    PAID = "paid"          # the money was taken (transaction id known)
    WAITING = "waiting"    # WeChat USERPAYING / Alipay WAIT_BUYER_PAY: the payer must confirm
    FAILED = "failed"      # definitely not paid (refused code, no funds, closed, reversed)
    UNKNOWN = "unknown"    # SYSTEMERROR / unknown result: ask again (query), never assume


@dataclass(frozen=True, slots=True)
class ProviderAnswer:
    state: TradeState
    transaction_id: str = ""
    amount: Fen = 0
    code: str = ""  # the provider's own code (err_code / sub_code / trade_state), for logs
    retry: bool = False  # reverse/cancel: the provider asks for the call to be repeated


class ProviderUnreachable(PaymentError):
    """No usable answer: connection refused or dropped, timeout, malformed body."""

    message_id = "payment.timeout"


class ProviderSignatureError(PaymentError):
    """The answer's signature does not verify with the provider's key: it is not trusted."""

    message_id = "payment.bad_signature"


class PaymentProvider(Protocol):
    """One provider's barcode-payment API. Each call raises ProviderUnreachable or
    ProviderSignatureError when there is no trustworthy answer."""

    name: str  # the payment method recorded: "wechat" | "alipay"

    def pay(self, *, out_trade_no: str, auth_code: str, amount: Fen,
            subject: str) -> ProviderAnswer: ...

    def query(self, out_trade_no: str) -> ProviderAnswer: ...

    def reverse(self, out_trade_no: str) -> ProviderAnswer:
        """Cancel the trade, refunding it if it was paid (WeChat reverse / Alipay cancel);
        FAILED never: PAID-state answers are not returned; ``state`` is FAILED ("now not paid")
        when done, UNKNOWN with ``retry`` when the provider asks to repeat."""
        ...

    def refund(self, *, out_trade_no: str, out_refund_no: str, amount: Fen,
               total: Fen) -> ProviderAnswer:
        """Refund ``amount`` of a paid trade; PAID means the refund was accepted."""
        ...
