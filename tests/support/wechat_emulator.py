"""An HTTP emulator of WeChat Pay API v2 付款码支付, from the public specification: micropay,
orderquery, reverse and refund (those two only with the merchant's API client certificate),
XML bodies, requests' ``sign`` checked (MD5 or HMAC-SHA256, as ``sign_type`` says) and every
answer signed the same way. Behaviour of the next trades: ``emulator.books.script``
(``tests.support.pay_emulator_base.Script``).
"""

from __future__ import annotations

import http.server
import secrets
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from kiosk.payments.signing import wechat_sign, wechat_verify
from tests.support.pay_emulator_base import Books, EmulatorServer, Trade, drop_connection

APPID = "wxd930ea5d5a258f4f"
MCH_ID = "10000100"
API_KEY = "192006250b4c09247ec02edce69f6a2d"


class WechatEmulator:
    def __init__(self, *, tls: tuple[Path, Path, Path] | None = None,
                 key: str = API_KEY) -> None:
        self.key = key
        self.books = Books()
        self.server = EmulatorServer(_Handler, self, tls=tls)
        self.url = self.server.url

    def __enter__(self) -> WechatEmulator:
        self.server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__(*exc)


def _xml(params: dict[str, str]) -> bytes:
    root = ET.Element("xml")
    for k, v in params.items():
        ET.SubElement(root, k).text = v
    return ET.tostring(root, encoding="utf-8")


class _Handler(http.server.BaseHTTPRequestHandler):
    server_version = "WechatPayEmulator/2"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        pass

    @property
    def emu(self) -> WechatEmulator:
        return self.server.emulator  # type: ignore[attr-defined, no-any-return]

    def _send(self, params: dict[str, str], sign_type: str, *, signed: bool = True) -> None:
        if signed:
            params = {"appid": APPID, "mch_id": MCH_ID, "nonce_str": secrets.token_hex(8), **params}
            if sign_type != "MD5":
                params["sign_type"] = sign_type
            key = self.emu.key if self.emu.books.script.mode != "bad_signature" else "0" * 32
            params["sign"] = wechat_sign(params, key, sign_type)
        body = _xml(params)
        self.send_response(200)
        self.send_header("Content-Type", "text/xml; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
        req = {c.tag: (c.text or "") for c in ET.fromstring(raw)}
        sign_type = req.get("sign_type", "MD5")
        books = self.emu.books
        with books.lock:
            books.calls.append((self.path, req))
        if not wechat_verify(req, self.emu.key, sign_type) or req.get("mch_id") != MCH_ID:
            self._send({"return_code": "FAIL", "return_msg": "签名错误"}, sign_type, signed=False)
            return
        if self.path.startswith("/secapi/") and not self.connection.getpeercert():
            self._send({"return_code": "FAIL", "return_msg": "证书错误 (no client certificate)"},
                       sign_type, signed=False)
            return
        handler = {"/pay/micropay": self._micropay, "/pay/orderquery": self._query,
                   "/secapi/pay/reverse": self._reverse, "/secapi/pay/refund": self._refund}.get(self.path)
        if handler is None:
            self.send_error(404)
            return
        handler(req, sign_type)

    def _ok(self, extra: dict[str, str], sign_type: str) -> None:
        self._send({"return_code": "SUCCESS", "return_msg": "OK", "result_code": "SUCCESS", **extra},
                   sign_type)

    def _err(self, code: str, sign_type: str) -> None:
        self._send({"return_code": "SUCCESS", "return_msg": "OK", "result_code": "FAIL",
                    "err_code": code, "err_code_des": code}, sign_type)

    def _micropay(self, req: dict[str, str], sign_type: str) -> None:
        books = self.emu.books
        script, otn, amount = books.script, req["out_trade_no"], int(req["total_fee"])
        with books.lock:
            if otn in books.trades:
                self._err("ORDERPAID" if books.trades[otn].state == "paid" else "OUT_TRADE_NO_USED",
                          sign_type)
                return
            tid = books.next_id("4200")
            state = "paid"
            if script.mode == "waiting":
                state = "waiting"
            elif script.mode in ("system_error", "timeout", "drop") and script.after != "paid":
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
            self._err("USERPAYING", sign_type)
        elif script.mode == "system_error":
            self._err("SYSTEMERROR", sign_type)
        else:
            self._ok({"transaction_id": tid, "out_trade_no": otn,
                      "total_fee": str(amount + script.amount_delta),
                      "trade_type": "MICROPAY", "fee_type": "CNY"}, sign_type)

    def _query(self, req: dict[str, str], sign_type: str) -> None:
        books = self.emu.books
        with books.lock:
            t = books.trades.get(req["out_trade_no"])
            if t is not None and t.state == "waiting":
                if t.waits_left is not None and t.waits_left <= 0:
                    t.state = "paid"
                elif t.waits_left is not None:
                    t.waits_left -= 1
        if t is None:
            self._err("ORDERNOTEXIST", sign_type)
            return
        trade_state = {"paid": "SUCCESS", "waiting": "USERPAYING", "reversed": "REVOKED",
                       "refunded": "REFUND", "closed": "CLOSED"}[t.state]
        self._ok({"trade_state": trade_state, "out_trade_no": t.out_trade_no,
                  "transaction_id": t.transaction_id if t.state != "waiting" else "",
                  "total_fee": str(t.amount)}, sign_type)

    def _reverse(self, req: dict[str, str], sign_type: str) -> None:
        books = self.emu.books
        with books.lock:
            t = books.trades.get(req["out_trade_no"])
            if t is not None:
                t.state = "reversed"  # paid or not: closed, and any money given back
        if t is None:
            self._err("ORDERNOTEXIST", sign_type)
            return
        self._ok({"recall": "N"}, sign_type)

    def _refund(self, req: dict[str, str], sign_type: str) -> None:
        books = self.emu.books
        fee = int(req["refund_fee"])
        with books.lock:
            t = books.trades.get(req["out_trade_no"])
            if books.script.refund_fails:
                self._err("SYSTEMERROR", sign_type)
                return
            again = t is not None and req["out_refund_no"] in t.refund_nos
            if not again and (t is None or t.state not in ("paid", "refunded")
                              or t.refunded + fee > t.amount):
                self._err("TRADE_STATE_ERROR" if t else "ORDERNOTEXIST", sign_type)
                return
            assert t is not None
            if not again:
                t.state, t.refunded = "refunded", t.refunded + fee
                t.refund_nos.add(req["out_refund_no"])
        self._ok({"refund_id": books.next_id("5030"), "refund_fee": str(fee),
                  "out_refund_no": req["out_refund_no"], "transaction_id": t.transaction_id},
                 sign_type)
