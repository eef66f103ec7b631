"""E-receipts (issue 12.12): the token a receipt's QR carries, its URL, and what is pushed.

A reader receipt gets a random 128-bit token made on the kiosk (``new_token``); its QR encodes
``<public base URL>/r/<token>``, and the kiosk pushes the receipt (masked data only) with the
token's SHA-256 in a ``receipt.issued`` event. The record server keeps only the hash, so it
answers ``/r/<token>`` by hashing what it is given; a token is never derived from the receipt
number, so one receipt tells nothing about another (docs/security.md, "E-receipts").
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
import secrets
from typing import Any, Final

from library_core.contract.receipt_doc import ReceiptIssued
from library_core.receipts import Receipt, ReceiptKind

log = logging.getLogger(__name__)

TOKEN_BYTES: Final = 16  # 128 bits
TOKEN_PATTERN: Final = re.compile(r"^[A-Za-z0-9_-]{22}$")  # token_urlsafe(16): 22 characters
PATH_PREFIX: Final = "/r/"

# receipts with a reader's business on them get an e-receipt; staff documents (the Z-report,
# the visitor roster) and the visitor pass (its QR is the sign-out pass) keep their own QR
EKINDS: Final = frozenset({
    ReceiptKind.NEW_CARD, ReceiptKind.RENEWAL, ReceiptKind.REPLACEMENT, ReceiptKind.PAYMENT,
    ReceiptKind.RETURNS, ReceiptKind.REFUND,
})


def new_token() -> str:
    """A fresh unguessable token (128 random bits, URL-safe base64, 22 characters)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    """What the server stores and looks up: the token's SHA-256, hex."""
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def well_formed(token: str) -> bool:
    return bool(TOKEN_PATTERN.fullmatch(token))


def ereceipt_url(base_url: str, token: str) -> str:
    """``https://lib.example.cn/r/<token>`` (``base_url`` without a trailing slash)."""
    return base_url.rstrip("/") + PATH_PREFIX + token


def with_ereceipt(receipt: Receipt, base_url: str) -> Receipt:
    """``receipt`` with a new token and its URL as the QR; unchanged when there is no base URL,
    the kind gets none, or the receipt already has its own QR."""
    if not base_url or receipt.kind not in EKINDS or receipt.qr_data:
        return receipt
    token = new_token()
    out = dataclasses.replace(receipt, ereceipt_token=token,
                              qr_data=ereceipt_url(base_url, token))
    try:  # a receipt the contract would refuse (an ILS message with a control character) is
        ReceiptIssued.model_validate(issued_payload(out))  # printed without one, never lost
    except ValueError as err:
        log.warning("receipt %s gets no e-receipt: %s", receipt.receipt_no, err)
        return receipt
    return out


DOCUMENT_FIELDS: Final = (
    "kind", "kiosk_id", "issued_at", "language", "library_name", "library_name_en",
    "reader_name", "card_no_masked", "id_masked", "phone_masked", "fields", "lines", "total",
    "payment_method", "staff_no", "footer_key",
)


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _as_printed(value: Any) -> Any:
    """Text as the printer shows it: each control character a space (devices.receipt_text)."""
    if isinstance(value, str):
        return _CONTROL.sub(" ", value)
    if isinstance(value, dict):
        return {k: _as_printed(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_as_printed(v) for v in value]
    return value


def issued_payload(receipt: Receipt) -> dict[str, Any]:
    """The ``receipt.issued`` payload: number, token hash and the receipt as printed (masked
    data only; no token, no QR)."""
    body = dataclasses.asdict(receipt)
    document = {k: body[k] for k in DOCUMENT_FIELDS}
    document["kind"] = str(receipt.kind)
    document["issued_at"] = receipt.issued_at.isoformat()
    document["fields"] = [list(f) for f in receipt.fields]
    document["lines"] = [{k: v for k, v in line.items() if v not in ("", None, {})}
                         for line in body["lines"]]
    return {"receipt_no": receipt.receipt_no, "token_sha256": token_hash(receipt.ereceipt_token),
            "document": _as_printed(document)}


def receipt_from_document(receipt_no: str, document: dict[str, Any]) -> Receipt:
    """The ``Receipt`` a pushed document describes (for the server's page)."""
    data = dict(document)
    data["lines"] = [dict(line) for line in data.get("lines", [])]
    for line in data["lines"]:
        line.setdefault("params", {})
    data["fields"] = [list(f) for f in data.get("fields", [])]
    data.update(receipt_no=receipt_no, reprint=False, qr_data="", ereceipt_token="")
    return Receipt.from_json(json.dumps(data, ensure_ascii=False))
