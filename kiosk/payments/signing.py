"""The providers' signature schemes, as pure functions.

Written here rather than taken from wechatpy / python-alipay-sdk: each scheme is a dozen lines
over hashlib/hmac and ``cryptography``, while those SDKs pull in their own HTTP and XML stacks
and (python-alipay-sdk) pycryptodome; the kiosk needs four calls of each API and full control
of timeouts and of what counts as a trustworthy answer.

- WeChat Pay API v2 (签名算法): the non-empty parameters except ``sign``, sorted by name,
  ``k=v`` joined with ``&``, then ``&key=<API key>``; MD5, or HMAC-SHA256 keyed with the API
  key; upper-case hex.
- Alipay open API (RSA2): request parameters except ``sign``, sorted, ``k=v`` joined with ``&``,
  SHA256withRSA (PKCS#1 v1.5), base64. A response is signed over the exact JSON text of its
  ``<method>_response`` member, as sent.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa


def wechat_sign_string(params: Mapping[str, str], key: str) -> str:
    pairs = [f"{k}={v}" for k, v in sorted(params.items()) if k != "sign" and v != ""]
    return "&".join(pairs) + f"&key={key}"


def wechat_sign(params: Mapping[str, str], key: str, sign_type: str = "MD5") -> str:
    """The ``sign`` of a WeChat Pay v2 request or response (``sign_type`` MD5 or HMAC-SHA256)."""
    text = wechat_sign_string(params, key).encode()
    if sign_type == "HMAC-SHA256":
        return hmac.new(key.encode(), text, hashlib.sha256).hexdigest().upper()
    if sign_type == "MD5":
        return hashlib.md5(text).hexdigest().upper()  # noqa: S324 - the provider's scheme
    raise ValueError(f"unknown sign_type {sign_type!r}")


def wechat_verify(params: Mapping[str, str], key: str, sign_type: str) -> bool:
    got = params.get("sign", "")
    return bool(got) and hmac.compare_digest(got.upper(), wechat_sign(params, key, sign_type))


def alipay_sign_string(params: Mapping[str, str]) -> str:
    return "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k != "sign" and v != "")


def load_private_key(pem: bytes) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("not an RSA private key")
    return key


def load_public_key(pem: bytes) -> rsa.RSAPublicKey:
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("not an RSA public key")
    return key


def rsa2_sign(content: str, key: rsa.RSAPrivateKey) -> str:
    sig = key.sign(content.encode(), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(sig).decode()


def rsa2_verify(content: str, signature: str, key: rsa.RSAPublicKey) -> bool:
    try:
        key.verify(base64.b64decode(signature, validate=True), content.encode(),
                   padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True


def alipay_response_node(body: str, node: str) -> tuple[str, str]:
    """The raw JSON text of ``node`` in an Alipay response (what its ``sign`` covers) and the
    sign. Raises ValueError when the body is not such a response."""
    doc = json.loads(body)
    if not isinstance(doc, dict) or node not in doc:
        raise ValueError(f"no {node} in the response")
    start = body.index(f'"{node}"') + len(node) + 2
    start = body.index(":", start) + 1
    while body[start] in " \t\r\n":
        start += 1
    _, end = json.JSONDecoder().raw_decode(body, start)
    return body[start:end], str(doc.get("sign", ""))
