"""The providers' signature schemes against their documented worked examples (WeChat Pay v2)
and a key pair made here (Alipay RSA2), both ways; and Alipay's signed response member."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from kiosk.payments.alipay import fen_of, yuan
from kiosk.payments.signing import (
    alipay_response_node,
    alipay_sign_string,
    load_private_key,
    load_public_key,
    rsa2_sign,
    rsa2_verify,
    wechat_sign,
    wechat_sign_string,
    wechat_verify,
)

# WeChat Pay API v2 安全规范 签名算法: the example's parameters and key
DOC_PARAMS = {"appid": "wxd930ea5d5a258f4f", "mch_id": "10000100", "device_info": "1000",
              "body": "test", "nonce_str": "ibuaiVcKdpRxkhJA"}
DOC_KEY = "192006250b4c09247ec02edce69f6a2d"


def test_wechat_v2_string_to_sign_is_the_documented_one() -> None:
    assert wechat_sign_string(DOC_PARAMS, DOC_KEY) == (
        "appid=wxd930ea5d5a258f4f&body=test&device_info=1000&mch_id=10000100"
        "&nonce_str=ibuaiVcKdpRxkhJA&key=192006250b4c09247ec02edce69f6a2d")


def test_wechat_v2_md5_and_hmac_sha256_match_the_worked_example() -> None:
    assert wechat_sign(DOC_PARAMS, DOC_KEY, "MD5") == "9A0A8659F005D6984697E2CA0A9CF3B7"
    assert wechat_sign(DOC_PARAMS, DOC_KEY, "HMAC-SHA256") == (
        "6A9AE1657590FD6257D693A078E1C3E4BB6BA4DC30B23E0EE2496E54170DACD6")


def test_wechat_v2_verify_refuses_a_changed_field_a_wrong_key_and_no_sign() -> None:
    signed = {**DOC_PARAMS, "sign": "9A0A8659F005D6984697E2CA0A9CF3B7"}
    assert wechat_verify(signed, DOC_KEY, "MD5")
    assert not wechat_verify({**signed, "body": "test2"}, DOC_KEY, "MD5")
    assert not wechat_verify(signed, "0" * 32, "MD5")
    assert not wechat_verify(DOC_PARAMS, DOC_KEY, "MD5")
    assert not wechat_verify(signed, DOC_KEY, "HMAC-SHA256")  # the other scheme's sign
    with pytest.raises(ValueError):
        wechat_sign(DOC_PARAMS, DOC_KEY, "SHA1")


def _pair() -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public


def test_alipay_rsa2_signs_and_verifies_both_ways() -> None:
    app_private, app_public = _pair()
    ali_private, ali_public = _pair()
    params = {"app_id": "2021000000000001", "method": "alipay.trade.pay", "charset": "utf-8",
              "sign_type": "RSA2", "timestamp": "2026-12-01 10:00:00", "version": "1.0",
              "biz_content": '{"out_trade_no":"LK1","scene":"bar_code","total_amount":"0.01"}'}
    content = alipay_sign_string(params)
    assert content.startswith("app_id=2021000000000001&biz_content={")
    # the kiosk signs with the app key; "Alipay" verifies with the app's public key
    sign = rsa2_sign(content, load_private_key(app_private))
    assert rsa2_verify(alipay_sign_string({**params, "sign": sign}), sign, load_public_key(app_public))
    assert not rsa2_verify(content.replace("0.01", "0.02"), sign, load_public_key(app_public))
    assert not rsa2_verify(content, sign, load_public_key(ali_public))
    # "Alipay" signs its response member; the kiosk verifies with Alipay's public key
    node = '{"code":"10000","msg":"Success","trade_no":"2026120122001","total_amount":"0.01"}'
    body = f'{{"alipay_trade_pay_response": {node} ,"sign":"{rsa2_sign(node, load_private_key(ali_private))}"}}'
    raw, got = alipay_response_node(body, "alipay_trade_pay_response")
    assert raw == node and json.loads(raw)["code"] == "10000"
    assert rsa2_verify(raw, got, load_public_key(ali_public))
    assert not rsa2_verify(raw, got, load_public_key(app_public))
    assert not rsa2_verify(raw, "not base64!", load_public_key(ali_public))


def test_yuan_amounts_are_exact_fen() -> None:
    assert [yuan(f) for f in (1, 10, 100, 12345)] == ["0.01", "0.10", "1.00", "123.45"]
    assert [fen_of(t) for t in ("0.01", "0.1", "12", "123.45")] == [1, 10, 1200, 12345]
    for bad in ("-1.00", "1.234", "1e3", "", "0x10"):
        with pytest.raises(ValueError):
            fen_of(bad)
