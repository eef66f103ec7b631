"""WeChat Pay 付款码支付 (micropay), API v2: XML bodies signed with the API key.

Calls: ``/pay/micropay``, ``/pay/orderquery``, ``/secapi/pay/reverse`` and
``/secapi/pay/refund`` (those two over TLS with the merchant's API client certificate).
Every answer's ``sign`` is checked before any field of it is believed.
"""

from __future__ import annotations

import logging
import secrets
import xml.etree.ElementTree as ET  # noqa: S405 - no DTD accepted (refused below)
from collections.abc import Mapping

from kiosk.payments.http import ProviderHttp
from kiosk.payments.provider import (
    ProviderAnswer,
    ProviderSignatureError,
    ProviderUnreachable,
    TradeState,
)
from kiosk.payments.signing import wechat_sign, wechat_verify
from library_core.money import Fen

log = logging.getLogger(__name__)

_UNKNOWN_ERRORS = frozenset({"SYSTEMERROR", "BANKERROR", "ORDERPAID", "TRADE_ERROR"})
_QUERY_PAID = frozenset({"SUCCESS"})
_QUERY_WAITING = frozenset({"USERPAYING", "NOTPAY"})


def to_xml(params: Mapping[str, str]) -> bytes:
    root = ET.Element("xml")
    for k, v in params.items():
        ET.SubElement(root, k).text = v
    return bytes(ET.tostring(root, encoding="utf-8"))


def from_xml(body: str) -> dict[str, str]:
    """The flat ``<xml>`` document as a dict. Raises ProviderUnreachable when it is not one."""
    if "<!DOCTYPE" in body.upper() or "<!ENTITY" in body.upper():
        raise ProviderUnreachable("payment.failed", "a DTD in the provider's answer")
    try:
        root = ET.fromstring(body)  # noqa: S314 - DTDs refused above
    except ET.ParseError as err:
        raise ProviderUnreachable("payment.failed", f"not XML: {err}") from err
    if root.tag != "xml":
        raise ProviderUnreachable("payment.failed", "not a WeChat Pay answer")
    return {child.tag: (child.text or "") for child in root}


class WechatMicropay:
    """Implements ``PaymentProvider`` for WeChat Pay v2. Raises ProviderUnreachable,
    ProviderSignatureError."""

    name = "wechat"

    def __init__(self, *, appid: str, mch_id: str, api_key: str, base_url: str,
                 http: ProviderHttp, sign_type: str = "HMAC-SHA256",
                 client_ip: str = "127.0.0.1") -> None:
        self.appid, self.mch_id, self.key = appid, mch_id, api_key
        self.base_url = base_url.rstrip("/")
        self.http = http
        self.sign_type = sign_type
        self.client_ip = client_ip

    def _call(self, path: str, fields: Mapping[str, str], *, with_cert: bool = False) -> dict[str, str]:
        params = {"appid": self.appid, "mch_id": self.mch_id,
                  "nonce_str": secrets.token_hex(16), **fields}
        if self.sign_type != "MD5":
            params["sign_type"] = self.sign_type
        params["sign"] = wechat_sign(params, self.key, self.sign_type)
        body = self.http.post(self.base_url + path, data=to_xml(params),
                              content_type="text/xml; charset=utf-8", with_cert=with_cert)
        answer = from_xml(body)
        if answer.get("return_code") != "SUCCESS":
            # communication-level failure (bad request, our signature refused): no trade state
            log.warning("wechat %s: return_code %s (%s)", path, answer.get("return_code"),
                        answer.get("return_msg", ""))
            return answer
        if not wechat_verify(answer, self.key, self.sign_type):
            raise ProviderSignatureError("payment.bad_signature", f"wechat {path}: bad sign")
        if answer.get("appid") not in ("", self.appid) or answer.get("mch_id") not in ("", self.mch_id):
            raise ProviderSignatureError("payment.bad_signature", f"wechat {path}: other merchant")
        return answer

    def pay(self, *, out_trade_no: str, auth_code: str, amount: Fen, subject: str) -> ProviderAnswer:
        a = self._call("/pay/micropay", {"body": subject[:128], "out_trade_no": out_trade_no,
                                         "total_fee": str(amount), "fee_type": "CNY",
                                         "spbill_create_ip": self.client_ip,
                                         "auth_code": auth_code})
        if a.get("return_code") != "SUCCESS":
            return ProviderAnswer(TradeState.UNKNOWN, code=a.get("return_code", ""))
        if a.get("result_code") == "SUCCESS":
            return ProviderAnswer(TradeState.PAID, a.get("transaction_id", ""),
                                  _fen(a.get("total_fee", "")), "SUCCESS")
        err = a.get("err_code", "")
        if err == "USERPAYING":
            return ProviderAnswer(TradeState.WAITING, code=err)
        if err in _UNKNOWN_ERRORS or not err:
            return ProviderAnswer(TradeState.UNKNOWN, code=err)
        return ProviderAnswer(TradeState.FAILED, code=err)

    def query(self, out_trade_no: str) -> ProviderAnswer:
        a = self._call("/pay/orderquery", {"out_trade_no": out_trade_no})
        if a.get("return_code") != "SUCCESS":
            return ProviderAnswer(TradeState.UNKNOWN, code=a.get("return_code", ""))
        if a.get("result_code") != "SUCCESS":
            err = a.get("err_code", "")
            state = TradeState.FAILED if err == "ORDERNOTEXIST" else TradeState.UNKNOWN
            return ProviderAnswer(state, code=err)
        ts = a.get("trade_state", "")
        if ts in _QUERY_PAID:
            return ProviderAnswer(TradeState.PAID, a.get("transaction_id", ""),
                                  _fen(a.get("total_fee", "")), ts)
        if ts in _QUERY_WAITING:
            return ProviderAnswer(TradeState.WAITING, code=ts)
        return ProviderAnswer(TradeState.FAILED, code=ts)  # CLOSED, REVOKED, PAYERROR, REFUND

    def reverse(self, out_trade_no: str) -> ProviderAnswer:
        a = self._call("/secapi/pay/reverse", {"out_trade_no": out_trade_no}, with_cert=True)
        if a.get("return_code") == "SUCCESS" and a.get("result_code") == "SUCCESS":
            if a.get("recall") == "Y":
                return ProviderAnswer(TradeState.UNKNOWN, code="recall", retry=True)
            return ProviderAnswer(TradeState.FAILED, code="REVERSED")
        err = a.get("err_code", a.get("return_code", ""))
        if err == "ORDERNOTEXIST":
            return ProviderAnswer(TradeState.FAILED, code=err)  # never reached the provider
        return ProviderAnswer(TradeState.UNKNOWN, code=err, retry=err in _UNKNOWN_ERRORS)

    def refund(self, *, out_trade_no: str, out_refund_no: str, amount: Fen,
               total: Fen) -> ProviderAnswer:
        a = self._call("/secapi/pay/refund", {"out_trade_no": out_trade_no,
                                              "out_refund_no": out_refund_no,
                                              "total_fee": str(total), "refund_fee": str(amount)},
                       with_cert=True)
        if a.get("return_code") == "SUCCESS" and a.get("result_code") == "SUCCESS":
            return ProviderAnswer(TradeState.PAID, a.get("refund_id", ""), amount, "REFUND")
        return ProviderAnswer(TradeState.UNKNOWN, code=a.get("err_code", a.get("return_code", "")))


def _fen(text: str) -> Fen:
    try:
        return int(text)
    except ValueError:
        return 0
