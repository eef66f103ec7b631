"""Alipay 当面付 条码支付: ``alipay.trade.pay`` (scene ``bar_code``), ``alipay.trade.query``,
``alipay.trade.cancel``, ``alipay.trade.refund`` over the open API gateway, RSA2-signed both ways.

Amounts travel as yuan strings with two decimals ("12.30"); here they are integer fen.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

from kiosk.payments.http import ProviderHttp
from kiosk.payments.provider import (
    ProviderAnswer,
    ProviderSignatureError,
    ProviderUnreachable,
    TradeState,
)
from kiosk.payments.signing import (
    alipay_response_node,
    alipay_sign_string,
    load_private_key,
    load_public_key,
    rsa2_sign,
    rsa2_verify,
)
from library_core.money import Fen

log = logging.getLogger(__name__)

_YUAN = re.compile(r"^(\d{1,9})(?:\.(\d{1,2}))?$")
_CN = dt.timezone(dt.timedelta(hours=8))


def yuan(fen: Fen) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def fen_of(text: str) -> Fen:
    """``"12.3"`` -> 1230. Raises ValueError for anything else."""
    m = _YUAN.match(text.strip())
    if m is None:
        raise ValueError(f"not a yuan amount: {text!r}")
    return int(m.group(1)) * 100 + int((m.group(2) or "0").ljust(2, "0"))


class AlipayBarcode:
    """Implements ``PaymentProvider`` for Alipay. Raises ProviderUnreachable,
    ProviderSignatureError."""

    name = "alipay"

    def __init__(self, *, app_id: str, private_key_pem: bytes, alipay_public_key_pem: bytes,
                 gateway_url: str, http: ProviderHttp,
                 now: Callable[[], dt.datetime] | None = None) -> None:
        self.app_id = app_id
        self.private_key = load_private_key(private_key_pem)
        self.public_key = load_public_key(alipay_public_key_pem)
        self.gateway_url = gateway_url
        self.http = http
        self.now = now or (lambda: dt.datetime.now(_CN))

    def request_params(self, method: str, biz: Mapping[str, Any]) -> dict[str, str]:
        """The signed form fields of one call."""
        params = {"app_id": self.app_id, "method": method, "format": "JSON",
                  "charset": "utf-8", "sign_type": "RSA2", "version": "1.0",
                  "timestamp": self.now().astimezone(_CN).strftime("%Y-%m-%d %H:%M:%S"),
                  "biz_content": json.dumps(biz, ensure_ascii=False, separators=(",", ":"))}
        params["sign"] = rsa2_sign(alipay_sign_string(params), self.private_key)
        return params

    def _call(self, method: str, biz: Mapping[str, Any]) -> dict[str, Any]:
        body = self.http.post(self.gateway_url, data=self.request_params(method, biz),
                              content_type="application/x-www-form-urlencoded; charset=utf-8")
        node = method.replace(".", "_") + "_response"
        try:
            raw, sign = alipay_response_node(body, node)
            answer = json.loads(raw)
        except ValueError as err:
            raise ProviderUnreachable("payment.failed", f"alipay {method}: {err}") from err
        if not sign or not rsa2_verify(raw, sign, self.public_key):
            raise ProviderSignatureError("payment.bad_signature", f"alipay {method}: bad sign")
        if not isinstance(answer, dict):
            raise ProviderUnreachable("payment.failed", f"alipay {method}: not an object")
        return answer

    def pay(self, *, out_trade_no: str, auth_code: str, amount: Fen, subject: str) -> ProviderAnswer:
        a = self._call("alipay.trade.pay", {"out_trade_no": out_trade_no, "scene": "bar_code",
                                            "auth_code": auth_code, "subject": subject[:256],
                                            "total_amount": yuan(amount)})
        code, sub = str(a.get("code", "")), str(a.get("sub_code", ""))
        if code == "10000":
            return ProviderAnswer(TradeState.PAID, str(a.get("trade_no", "")),
                                  _amount(a, "total_amount"), code)
        if code == "10003":
            return ProviderAnswer(TradeState.WAITING, code=code)
        if code == "40004" and sub not in ("ACQ.SYSTEM_ERROR", "ACQ.TRADE_HAS_SUCCESS"):
            return ProviderAnswer(TradeState.FAILED, code=sub)
        return ProviderAnswer(TradeState.UNKNOWN, code=sub or code)

    def query(self, out_trade_no: str) -> ProviderAnswer:
        a = self._call("alipay.trade.query", {"out_trade_no": out_trade_no})
        code, sub = str(a.get("code", "")), str(a.get("sub_code", ""))
        if code == "40004" and sub == "ACQ.TRADE_NOT_EXIST":
            return ProviderAnswer(TradeState.FAILED, code=sub)
        if code != "10000":
            return ProviderAnswer(TradeState.UNKNOWN, code=sub or code)
        status = str(a.get("trade_status", ""))
        if status in ("TRADE_SUCCESS", "TRADE_FINISHED"):
            return ProviderAnswer(TradeState.PAID, str(a.get("trade_no", "")),
                                  _amount(a, "total_amount"), status)
        if status == "WAIT_BUYER_PAY":
            return ProviderAnswer(TradeState.WAITING, code=status)
        return ProviderAnswer(TradeState.FAILED, code=status)  # TRADE_CLOSED

    def reverse(self, out_trade_no: str) -> ProviderAnswer:
        a = self._call("alipay.trade.cancel", {"out_trade_no": out_trade_no})
        if str(a.get("code", "")) == "10000" and a.get("retry_flag") != "Y":
            return ProviderAnswer(TradeState.FAILED, code=str(a.get("action", "close")))
        return ProviderAnswer(TradeState.UNKNOWN, code=str(a.get("sub_code", a.get("code", ""))),
                              retry=True)

    def refund(self, *, out_trade_no: str, out_refund_no: str, amount: Fen,
               total: Fen) -> ProviderAnswer:
        a = self._call("alipay.trade.refund", {"out_trade_no": out_trade_no,
                                               "out_request_no": out_refund_no,
                                               "refund_amount": yuan(amount)})
        if str(a.get("code", "")) == "10000":
            return ProviderAnswer(TradeState.PAID, str(a.get("trade_no", "")), amount, "REFUND")
        return ProviderAnswer(TradeState.UNKNOWN, code=str(a.get("sub_code", a.get("code", ""))))


def _amount(a: Mapping[str, Any], key: str) -> Fen:
    try:
        return fen_of(str(a.get(key, "")))
    except ValueError:
        return 0
