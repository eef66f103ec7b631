"""The one HTTP boundary of the payment adapters: requests errors become ProviderUnreachable."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import requests

from kiosk.payments.provider import ProviderUnreachable

log = logging.getLogger(__name__)


class ProviderHttp:
    """POSTs to one provider with a timeout; ``cert`` (cert, key) for calls that need the
    merchant's client certificate. One session per adapter (the lifecycle calls from one
    service thread at a time)."""

    def __init__(self, *, timeout_s: float, ca_file: str = "",
                 cert: tuple[str, str] | None = None) -> None:
        self.timeout_s = timeout_s
        self.verify: bool | str = ca_file or True
        self.cert = cert
        self.session = requests.Session()

    def post(self, url: str, *, data: bytes | Mapping[str, str], content_type: str,
             with_cert: bool = False) -> str:
        """The response body. Raises ProviderUnreachable (refused, dropped, timeout, HTTP error)."""
        if with_cert and self.cert is None:
            raise ProviderUnreachable("payment.failed", "this call needs the merchant certificate")
        try:
            res = self.session.post(url, data=data, timeout=self.timeout_s, verify=self.verify,
                                    cert=self.cert if with_cert else None,
                                    headers={"Content-Type": content_type})
        except requests.RequestException as err:
            raise ProviderUnreachable("payment.timeout", f"{url}: {type(err).__name__}") from err
        if res.status_code != 200:
            raise ProviderUnreachable("payment.timeout", f"{url}: HTTP {res.status_code}")
        res.encoding = res.encoding or "utf-8"
        return res.text
