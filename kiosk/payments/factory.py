"""``build_gateway``: the payment gateway named by ``payment.type``, over the kiosk store."""

from __future__ import annotations

import logging
from typing import Any

from kiosk.services.errors import PaymentRefused
from kiosk.services.ports import Charge
from library_core.clock import Clock
from library_core.errors import ConfigError
from library_core.money import Fen

log = logging.getLogger(__name__)


class NoPaymentGateway:
    """``payment.type = "none"``: mobile payment codes are refused (cash at the desk only)."""

    def charge(self, *, code: str, amount: Fen, reference: str) -> Charge:
        raise PaymentRefused("payment.unavailable", "no payment gateway configured")

    def refund(self, charge: Charge, *, reason: str) -> None:
        raise PaymentRefused("payment.unavailable", "no payment gateway configured")


def build_provider(settings: Any, clock: Clock) -> Any:
    """The ``PaymentProvider`` for ``wechat`` / ``alipay``. Raises ConfigError."""
    from kiosk.payments.http import ProviderHttp

    p = settings.payment
    secrets = settings.payment_secrets
    if p.type == "wechat":
        from kiosk.payments.wechat import WechatMicropay

        w = p.wechat
        http = ProviderHttp(timeout_s=p.request_timeout_s, ca_file=w.ca_file,
                            cert=(w.cert_file, w.key_file) if w.cert_file else None)
        return WechatMicropay(appid=w.appid, mch_id=w.mch_id, api_key=secrets.wechat_api_key,
                              base_url=w.base_url, http=http, sign_type=w.sign_type)
    if p.type == "alipay":
        from kiosk.payments.alipay import AlipayBarcode

        a = p.alipay
        try:
            return AlipayBarcode(app_id=a.app_id, private_key_pem=secrets.alipay_private_key_pem,
                                 alipay_public_key_pem=secrets.alipay_public_key_pem,
                                 gateway_url=a.gateway_url, now=clock.now,
                                 http=ProviderHttp(timeout_s=p.request_timeout_s, ca_file=a.ca_file))
        except ValueError as err:
            raise ConfigError("payment.alipay", f"bad key: {err}") from err
    raise ConfigError("payment.type", f"no provider for {p.type!r}")


def build_gateway(settings: Any, *, store: Any, clock: Clock, kiosk_no: int) -> Any:
    """The ``PaymentGateway`` of ``payment.type``: the simulator (demo only; config refuses it
    elsewhere), none, or a ``DurablePaymentGateway`` over WeChat Pay / Alipay whose intents
    live in ``store``."""
    p = settings.payment
    if p.type == "simulated":
        from kiosk.services.payment import SimulatedPaymentGateway

        return SimulatedPaymentGateway(refuse_suffix=p.simulated_refuse_suffix)
    if p.type == "none":
        return NoPaymentGateway()
    from kiosk.payments.books import ReceiptHeader, UnappliedBooks
    from kiosk.payments.lifecycle import DurablePaymentGateway
    from server_client.store.intents import IntentStore

    intents = IntentStore(store)
    return DurablePaymentGateway(build_provider(settings, clock), intents, clock,
                                 kiosk_no=kiosk_no, wait_s=p.wait_s,
                                 query_interval_s=p.query_interval_s,
                                 books=UnappliedBooks(intents, clock,
                                                      ReceiptHeader.from_settings(settings)))


def recover_open_intents(gateway: Any) -> None:
    """Settle the intents left open (``DurablePaymentGateway.recover``); a failure is logged
    and the intents stay open for the next start."""
    recover = getattr(gateway, "recover", None)
    if recover is None:
        return
    try:
        for done in recover():
            log.warning("payment intent %s settled at start-up: %s", done.out_trade_no, done.outcome)
    except Exception:
        log.exception("payment recovery failed; open intents are retried at the next start")


def start_recovery_loop(gateway: Any, *, interval_s: float | None = None) -> Any:
    """The periodic recovery (``kiosk.payments.recovery.RecoveryLoop``) of a gateway that has
    one, started; None for the simulator and ``none``."""
    if getattr(gateway, "recover", None) is None:
        return None
    from kiosk.payments.recovery import INTERVAL_S, RecoveryLoop

    return RecoveryLoop(gateway, interval_s=interval_s or INTERVAL_S).start()
