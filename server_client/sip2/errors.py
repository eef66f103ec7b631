"""The SIP2 client's errors: every one a ``SyncError`` (the ILS is another system we talk to),
with a message id the UI translates. pysip2's own errors are wrapped at the client's edge."""

from __future__ import annotations

from library_core.errors import SyncError


class IlsError(SyncError):
    """Something went wrong talking to the library's ILS over SIP2."""

    message_id = "ils.error"


class IlsUnreachable(IlsError):
    """No answer from the ILS in time (connect, timeout, dropped, backing off): the kiosk may
    store and forward, or tells the reader to go to the desk."""

    message_id = "ils.unreachable"
    # the request had gone out when the answer failed (a timeout, a drop): the ILS may have
    # acted on it (a late answer to a check-in: the item may be checked in there already)
    maybe_delivered = False


class IlsLoginRefused(IlsUnreachable):
    """The ILS answered the login 93 with ``ok=0`` (wrong user, password or location)."""

    message_id = "ils.login_refused"


class IlsProtocolError(IlsUnreachable):
    """The ILS sent something that is not a valid answer (bad frame, bad checksum after the
    resends, the wrong message)."""

    message_id = "ils.protocol"


class IlsInvalidValue(IlsError):
    """A value we were asked to send cannot go on the wire (a ``|``, CR, over 255 bytes, or
    not encodable in the connection's encoding). Nothing was sent."""

    message_id = "ils.invalid_value"
