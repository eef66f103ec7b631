"""SIP2 (3M Standard Interchange Protocol 2.00) to the library's ILS: the client
(``client.Sip2Client``), its connection (``wire``) and errors. pysip2 supplies the typed models
and the codec; this package adds the socket, resends, heartbeat and backoff."""

from server_client.sip2.client import IlsLink, Sip2Client, Sip2Login
from server_client.sip2.errors import (
    IlsError,
    IlsInvalidValue,
    IlsLoginRefused,
    IlsProtocolError,
    IlsUnreachable,
)
from server_client.sip2.wire import ENCODINGS, Endpoint

__all__ = ["ENCODINGS", "Endpoint", "IlsError", "IlsInvalidValue", "IlsLink", "IlsLoginRefused",
           "IlsProtocolError", "IlsUnreachable", "Sip2Client", "Sip2Login"]
