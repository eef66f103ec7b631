"""An HTTP emulator of the Alipay open API gateway for 当面付 条码支付, from the public
specification: ``alipay.trade.pay`` (scene ``bar_code``), ``alipay.trade.query``,
``alipay.trade.cancel``, ``alipay.trade.refund``; form requests RSA2-verified with the app's
public key, JSON answers RSA2-signed with "Alipay's" private key over the ``*_response``
member. Behaviour of the next trades: ``emulator.books.script``.
"""

from __future__ import annotations

import http.server
import json
import time
import urllib.parse
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from kiosk.payments.alipay import fen_of, yuan
from kiosk.payments.signing import alipay_sign_string, rsa2_sign, rsa2_verify
from tests.support.pay_emulator_base import Books, EmulatorServer, Trade, drop_connection

APP_ID = "2021000000000001"


class AlipayEmulator:
    def __init__(self, *, app_public_key: rsa.RSAPublicKey, alipay_private_key: rsa.RSAPrivateKey,
                 tls: tuple[Path, Path, Path] | None = None) -> None:
        self.app_public_key = app_public_key
        self.alipay_private_key = alipay_private_key
        self.wrong_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.books = Books()
        self.server = EmulatorServer(_Handler, self, tls=tls)
        self.url = self.server.url + "/gateway.do"

    def __enter__(self) -> AlipayEmulator:
        self.server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__(*exc)


_NODES = {"alipay.trade.pay": "alipay_trade_pay_response",
          "alipay.trade.query": "alipay_trade_query_response",
          "alipay.trade.cancel": "alipay_trade_cancel_response",
          "alipay.trade.refund": "alipay_trade_refund_response"}
_STATUS = {"paid": "TRADE_SUCCESS", "waiting": "WAIT_BUYER_PAY", "reversed": "TRADE_CLOSED",
           "refunded": "TRADE_SUCCESS", "closed": "TRADE_CLOSED"}


class _Handler(http.server.BaseHTTPRequestHandler):
    server_version = "AlipayEmulator/1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        pass

    @property
    def emu(self) -> AlipayEmulator:
        return self.server.emulator  # type: ignore[attr-defined, no-any-return]

    def _send(self, method: str, node: dict[str, Any]) -> None:
        name = _NODES.get(method, "error_response")
        raw = json.dumps(node, ensure_ascii=False, separators=(",", ":"))
        key = (self.emu.wrong_key if self.emu.books.script.mode == "bad_signature"
               else self.emu.alipay_private_key)
        body = f'{{"{name}":{raw},"sign":"{rsa2_sign(raw, key)}"}}'.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html;charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
        form = {k: v[0] for k, v in urllib.parse.parse_qs(raw, keep_blank_values=True).items()}
        method = form.get("method", "")
        books = self.emu.books
        biz = json.loads(form.get("biz_content", "{}"))
        with books.lock:
            books.calls.append((method, {**form, "biz": biz}))
        if form.get("sign_type") != "RSA2" or not rsa2_verify(
                alipay_sign_string(form), form.get("sign", ""), self.emu.app_public_key):
            self._send(method, {"code": "40002", "msg": "Invalid Arguments",
                                "sub_code": "isv.invalid-signature", "sub_msg": "验签出错"})
            return
        if form.get("app_id") != APP_ID or method not in _NODES:
            self._send(method, {"code": "40002", "msg": "Invalid Arguments",
                                "sub_code": "isv.invalid-app-id"})
            return
        getattr(self, "_" + method.rsplit(".", 1)[1])(method, biz)

    def _fail(self, method: str, sub: str) -> None:
        self._send(method, {"code": "40004", "msg": "Business Failed", "sub_code": sub,
                            "sub_msg": sub})

    def _pay(self, method: str, biz: dict[str, Any]) -> None:
        books = self.emu.books
        script, otn, amount = books.script, biz["out_trade_no"], fen_of(biz["total_amount"])
        if biz.get("scene") != "bar_code":
            self._fail(method, "ACQ.INVALID_PARAMETER")
            return
        with books.lock:
            if otn in books.trades:
                self._fail(method, "ACQ.TRADE_HAS_SUCCESS")
                return
            tid = "2026" + books.next_id("22001")
            state = "waiting" if script.mode == "waiting" else "paid"
            if script.mode in ("system_error", "timeout", "drop") and script.after != "paid":
                state = ""
            if state:
                books.trades[otn] = Trade(otn, amount, state, tid, script.waits)
        books.pay_seen.set()
        if script.mode == "timeout":
            time.sleep(script.hold_s)
        if script.mode == "drop":
            drop_connection(self)
            return
        if script.mode == "waiting":
            self._send(method, {"code": "10003", "msg": "order success pay inprocess",
                                "trade_no": tid, "out_trade_no": otn,
                                "total_amount": yuan(amount)})
        elif script.mode == "system_error":
            self._send(method, {"code": "20000", "msg": "Service Currently Unavailable",
                                "sub_code": "aop.unknow-error"})
        else:
            self._send(method, {"code": "10000", "msg": "Success", "trade_no": tid,
                                "out_trade_no": otn,
                                "total_amount": yuan(amount + script.amount_delta),
                                "buyer_logon_id": "159****5620"})

    def _query(self, method: str, biz: dict[str, Any]) -> None:
        books = self.emu.books
        with books.lock:
            t = books.trades.get(biz["out_trade_no"])
            if t is not None and t.state == "waiting" and t.waits_left is not None:
                if t.waits_left <= 0:
                    t.state = "paid"
                else:
                    t.waits_left -= 1
        if t is None:
            self._fail(method, "ACQ.TRADE_NOT_EXIST")
            return
        status = _STATUS[t.state]
        if t.state == "refunded" and t.refunded == t.amount:
            status = "TRADE_CLOSED"  # 支付完成后全额退款: closed
        self._send(method, {"code": "10000", "msg": "Success", "trade_no": t.transaction_id,
                            "out_trade_no": t.out_trade_no, "trade_status": status,
                            "total_amount": yuan(t.amount)})

    def _cancel(self, method: str, biz: dict[str, Any]) -> None:
        books = self.emu.books
        with books.lock:
            t = books.trades.get(biz["out_trade_no"])
            action = "close"
            if t is not None:
                action = "refund" if t.state == "paid" else "close"
                t.state = "reversed"
        self._send(method, {"code": "10000", "msg": "Success", "retry_flag": "N",
                            "out_trade_no": biz["out_trade_no"], "action": action})

    def _refund(self, method: str, biz: dict[str, Any]) -> None:
        books = self.emu.books
        fee = fen_of(biz["refund_amount"])
        with books.lock:
            t = books.trades.get(biz["out_trade_no"])
            if books.script.refund_fails:
                self._send(method, {"code": "20000", "msg": "Service Currently Unavailable"})
                return
            number = str(biz.get("out_request_no", ""))
            again = t is not None and bool(number) and number in t.refund_nos
            if not again and (t is None or t.state not in ("paid", "refunded")
                              or t.refunded + fee > t.amount):
                self._fail(method, "ACQ.TRADE_STATUS_ERROR")
                return
            assert t is not None
            if not again:
                t.state, t.refunded = "refunded", t.refunded + fee
                t.refund_nos.add(number)
        self._send(method, {"code": "10000", "msg": "Success", "trade_no": t.transaction_id,
                            "out_trade_no": t.out_trade_no, "fund_change": "Y",
                            "refund_fee": yuan(t.refunded)})
