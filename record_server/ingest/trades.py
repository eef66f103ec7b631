"""What the server believes about a provider trade a kiosk books (issue 13, issue 11.1).

A mobile payment a kiosk took through its payment intents (``kiosk.payments.lifecycle``) is
one provider trade: our out-trade-number (unique across kiosks) and the provider's transaction
id. That trade is money in once, booked by exactly one event of one of three kinds:
``payment.recorded`` (it paid fees), ``ils.fee_paid`` (it paid the ILS's fines) or
``payment.unapplied`` (what it paid for never happened; the kiosk's recovery books it under the
id ``unapplied-<out_trade_no>`` and refunds it as ``refund-<out_refund_no>``). So:

- ``refuse_reserved_id``: those two id forms are the recovery's alone
  (``contract.unapplied.RESERVED_PAYMENT_PREFIXES``); any other kind booking under one would take
  the id of a trade's unapplied payment or refund (the honest one is then ``payment_exists``),
  or make a fee payment that ``payment.refunded`` could give back while its fees stay paid
  (``payment_id_reserved``);
- ``refuse_booked_trade``: a trade already booked as money in is not booked again, as any kind
  (``trade_booked`` by out-trade-number, ``transaction_booked`` by the provider's id and method);
  cash and credit carry no provider reference (``provider_ref_not_mobile``); and a kiosk books
  only its own trades: the kiosk number in the out-trade-number is the pushing kiosk's
  (``number_out_of_range: out_trade_no``, as for its card and receipt numbers). Pushes of one
  kiosk take its row's lock in turn (``ingest.push``), so two pushes cannot both find a trade
  unbooked and book it twice.

A payment with no out-trade-number (the demo's simulated gateway, whose ``SIM...`` ids restart
with each kiosk start; kiosks before issue 13) is not a trade of ours: two of them may share a
transaction id, but none may take one a real trade has booked.
"""

from __future__ import annotations

from sqlalchemy import bindparam, func, select

from library_core.contract import trade_no
from library_core.contract.unapplied import RESERVED_PAYMENT_PREFIXES
from record_server import models as m
from record_server.ingest.context import Context, Reject
from record_server.ingest.numbering import kiosk_no_of

MONEY_IN_KINDS = ("payment", "ils")  # payments.kind of money taken (refunds are money out)
MOBILE_METHODS = frozenset({"wechat", "alipay"})

_MONEY_IN = m.payments.c.kind.in_(MONEY_IN_KINDS)
_BY_TRADE = select(func.count()).where(
    m.payments.c.out_trade_no == bindparam("otn"), _MONEY_IN)
_BY_TRANSACTION = select(func.count()).where(
    m.payments.c.transaction_id == bindparam("tid"), m.payments.c.method == bindparam("method"),
    _MONEY_IN)
_BY_TRANSACTION_OF_TRADE = _BY_TRANSACTION.where(m.payments.c.out_trade_no.is_not(None))


def refuse_reserved_id(payment_id: str) -> None:
    """Raises Reject(payment_id_reserved) for an id of the recovery's own forms."""
    if payment_id.startswith(RESERVED_PAYMENT_PREFIXES):
        raise Reject("payment_id_reserved")


def refuse_booked_trade(ctx: Context, method: str, transaction_id: str | None,
                        out_trade_no: str | None) -> None:
    """Raises Reject(provider_ref_not_mobile | number_out_of_range | trade_booked |
    transaction_booked) unless the money in that names these references may be booked now (see
    the module doc). One indexed count per reference named; nothing for a payment that names
    none."""
    if not transaction_id and not out_trade_no:
        return
    if method not in MOBILE_METHODS:
        raise Reject("provider_ref_not_mobile")
    conn = ctx.conn
    if out_trade_no:
        kiosk_no = trade_no.kiosk_no_of(out_trade_no)
        if kiosk_no is None or kiosk_no != kiosk_no_of(conn, ctx.kiosk_id):
            raise Reject("number_out_of_range: out_trade_no")
        if conn.execute(_BY_TRADE, {"otn": out_trade_no}).scalar_one():
            raise Reject("trade_booked")
    if transaction_id:
        booked = _BY_TRANSACTION if out_trade_no else _BY_TRANSACTION_OF_TRADE
        if conn.execute(booked, {"tid": transaction_id, "method": method}).scalar_one():
            raise Reject("transaction_booked")
