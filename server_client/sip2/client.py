"""``Sip2Client``: the kiosk's SIP2 session with the library's ILS.

Logs in (93/94) on connect, keeps the link alive with SC status (99/98) on an interval, and
offers the messages the kiosk needs: patron status 23/24 and information 63/64, check-in 09/10,
fee paid 37/38, block patron 01, renew 29/30, end session 35/36. Every call answers within
``timeout_s`` (3 s: what a reader waits for) or raises ``IlsUnreachable``; after a failure the
client backs off (1, 2, 4 ... ``max_backoff_s``) and fails fast meanwhile, while the heartbeat
thread reconnects. ``link()`` says up/down and the last error for the status strip; listeners
hear when the link comes back (the store-and-forward queue is forwarded then).

Thread-safe: one exchange at a time over one connection.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from time import monotonic

from pysip2 import (
    ACSStatusResponse,
    BlockPatronRequest,
    CheckinRequest,
    CheckinResponse,
    EndPatronSessionRequest,
    EndSessionResponse,
    FeePaidRequest,
    FeePaidResponse,
    LoginRequest,
    LoginResponse,
    PatronInformationRequest,
    PatronInformationResponse,
    PatronStatusRequest,
    PatronStatusResponse,
    RenewRequest,
    RenewResponse,
    SCStatusRequest,
    SIPRequest,
    SIPResponse,
)

from library_core.clock import Clock
from library_core.money import Fen
from server_client.sip2.errors import IlsError, IlsLoginRefused, IlsUnreachable
from server_client.sip2.hotcodec import CheckinTemplate, PreparedCheckin, checkin_template
from server_client.sip2.wire import Endpoint, ResponseT, Sip2Wire

log = logging.getLogger(__name__)

LANGUAGE_CHINESE = "019"  # SIP2 language code (Chinese); 001 is English
FEE_PAID_CASH, FEE_PAID_CREDIT = "00", "02"  # payment types: cash, credit card (mobile pay)


@dataclass(frozen=True, slots=True)
class Sip2Login:
    user: str
    password: str
    location: str = ""
    institution_id: str = ""
    terminal_password: str = ""


@dataclass(frozen=True, slots=True)
class IlsLink:
    """The ILS link as the status strip shows it."""

    up: bool
    last_error: str = ""  # the message id of the last failure ("" none yet)
    last_error_detail: str = ""
    last_error_at: dt.datetime | None = None
    last_ok_at: dt.datetime | None = None


_SECOND = dt.timedelta(seconds=1)


def sip_datetime(at: dt.datetime) -> str:
    """SIP2's 18-character date: ``YYYYMMDD    HHMMSS`` (local time of the kiosk's clock)."""
    # %-formatting: about half the cost of the same f-string with its six format specs
    return "%04d%02d%02d    %02d%02d%02d" % (at.year, at.month, at.day,  # noqa: UP031
                                              at.hour, at.minute, at.second)


def sip_amount(fen: Fen) -> str:
    """Integer fen as the ILS's currency amount (``1250`` -> ``"12.50"``)."""
    return f"{fen // 100}.{fen % 100:02d}"


class Sip2Client:
    """See the module docstring. Raises IlsUnreachable (IlsLoginRefused, IlsProtocolError),
    IlsInvalidValue."""

    def __init__(self, endpoint: Endpoint, login: Sip2Login, clock: Clock, *,
                 timeout_s: float = 3.0, heartbeat_s: float = 30.0,
                 min_backoff_s: float = 1.0, max_backoff_s: float = 60.0) -> None:
        self.endpoint = endpoint
        self.login_data = login
        self.clock = clock
        self.timeout_s = timeout_s
        self.heartbeat_s = heartbeat_s
        self.min_backoff_s = min_backoff_s
        self.max_backoff_s = max_backoff_s
        self._lock = threading.RLock()
        self._wire: Sip2Wire | None = None
        self._link = IlsLink(up=False)
        self._backoff = 0.0
        self._retry_at = 0.0  # monotonic: no reconnect before this
        self._last_exchange = 0.0
        self._listeners: list[Callable[[IlsLink], None]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.acs_status: ACSStatusResponse | None = None
        self._date: tuple[dt.datetime, dt.datetime, dt.tzinfo | None, str] = (
            dt.datetime.max, dt.datetime.min, None, "")
        # this second's check-in template, keyed by ``_now``'s text (the object itself)
        self._template: tuple[str | None, CheckinTemplate | None] = (None, None)

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        """Start the heartbeat thread (connects at once, then every ``heartbeat_s``)."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._heartbeat_loop, name="sip2-heartbeat",
                                        daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the heartbeat and close the connection (no 35: that ends a patron session)."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=self.timeout_s + 1)
        with self._lock:
            self._drop()

    def subscribe(self, listener: Callable[[IlsLink], None]) -> Callable[[], None]:
        """Hear every change of the link (called on the thread that saw it)."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def link(self) -> IlsLink:
        return self._link

    # -- the messages --------------------------------------------------------------------------
    def sc_status(self) -> ACSStatusResponse:
        """99 -> 98 (the heartbeat)."""
        return self.call(SCStatusRequest(status_code="0", max_print_width="040",
                                         protocol_version="2.00"), ACSStatusResponse)

    def patron_status(self, patron: str, password: str = "") -> PatronStatusResponse:
        """23 -> 24: validity, blocks (the 14 status flags), fines owed."""
        return self.call(PatronStatusRequest(
            language=LANGUAGE_CHINESE, transaction_date=self._now(), institution_id=self._inst(),
            patron_identifier=patron, terminal_password=self.login_data.terminal_password,
            patron_password=password), PatronStatusResponse)

    def patron_information(self, patron: str, *, summary: str = "  Y       ",
                           password: str | None = None) -> PatronInformationResponse:
        """63 -> 64: counts, and the items of the ``summary`` position asked for (default:
        charged items, position 3; fine items are position 4, ``"   Y      "``)."""
        return self.call(PatronInformationRequest(
            language=LANGUAGE_CHINESE, transaction_date=self._now(), summary=summary,
            institution_id=self._inst(), patron_identifier=patron,
            terminal_password=self.login_data.terminal_password or None,
            patron_password=password, start_item="1", end_item="50"), PatronInformationResponse)

    def checkin(self, item: str, *, returned_at: dt.datetime | None = None) -> CheckinResponse:
        """09 -> 10: ok, alert, title, sort bin, hold, screen messages and print lines.
        ``returned_at`` is when the reader returned it (a forwarded offline return).

        A return at the kiosk (no ``returned_at``) is the hot path: its 09 is this second's
        template (``hotcodec.CheckinTemplate``: everything but the item, encoded once a
        second) with the item put in; pysip2's model and codec whenever that does not apply."""
        now = self._now()
        if returned_at is None:
            template = self._template
            if template[0] is not now:  # a new second (``_now`` keeps its text till then)
                template = self._template = (now, checkin_template(
                    "N", now, now, self.login_data.location, self._inst(),
                    self.login_data.terminal_password, encoding=self.endpoint.encoding,
                    checksums=self.endpoint.checksums))
            if template[1] is not None:
                raw = template[1].item_bytes(item)
                if raw is not None:
                    return self.call((template[1], raw), CheckinResponse)
        return self.call(CheckinRequest(
            no_block="Y" if returned_at is not None else "N", transaction_date=now,
            return_date=sip_datetime(returned_at) if returned_at else now,
            current_location=self.login_data.location, institution_id=self._inst(),
            item_identifier=item, terminal_password=self.login_data.terminal_password),
            CheckinResponse)

    def fee_paid(self, patron: str, amount: Fen, *, transaction_id: str,
                 fee_id: str | None = None, payment_type: str = FEE_PAID_CREDIT,
                 fee_type: str = "01", currency: str = "CNY") -> FeePaidResponse:
        """37 -> 38 with our transaction id (BK): the ILS records a payment taken here."""
        return self.call(FeePaidRequest(
            transaction_date=self._now(), fee_type=fee_type, payment_type=payment_type,
            currency_type=currency, fee_amount=sip_amount(amount), institution_id=self._inst(),
            patron_identifier=patron, terminal_password=self.login_data.terminal_password or None,
            fee_identifier=fee_id, transaction_id=transaction_id), FeePaidResponse)

    def block_patron(self, patron: str, message: str, *,
                     card_retained: bool = False) -> PatronStatusResponse:
        """01 -> 24: block the patron's card (reported lost)."""
        return self.call(BlockPatronRequest(
            card_retained="Y" if card_retained else "N", transaction_date=self._now(),
            institution_id=self._inst(), blocked_card_message=message,
            patron_identifier=patron, terminal_password=self.login_data.terminal_password),
            PatronStatusResponse)

    def renew(self, patron: str, item: str) -> RenewResponse:
        """29 -> 30 for one item the patron has out."""
        now = self._now()
        return self.call(RenewRequest(
            third_party_allowed="N", no_block="N", transaction_date=now, nb_due_date=now,
            institution_id=self._inst(), patron_identifier=patron, item_identifier=item,
            terminal_password=self.login_data.terminal_password or None), RenewResponse)

    def end_session(self, patron: str) -> EndSessionResponse:
        """35 -> 36: the reader is done at the kiosk."""
        return self.call(EndPatronSessionRequest(
            transaction_date=self._now(), institution_id=self._inst(), patron_identifier=patron,
            terminal_password=self.login_data.terminal_password or None), EndSessionResponse)

    # -- the exchange ----------------------------------------------------------------------------
    def call(self, request: SIPRequest | PreparedCheckin, expect: type[ResponseT]) -> ResponseT:
        """One request and its answer within ``timeout_s``, connecting (and logging in) first
        if needed. Raises IlsUnreachable (and its kinds), IlsInvalidValue."""
        deadline = monotonic() + self.timeout_s
        with self._lock:
            wire = self._wire
            if wire is None:
                if monotonic() < self._retry_at:
                    raise IlsUnreachable(None,
                                         f"backing off after: {self._link.last_error_detail}")
                try:
                    wire = self._connected(deadline)
                except IlsUnreachable as err:
                    err.maybe_delivered = False  # the log-in failed: the request never went out
                    self._failed(err)
                    raise
            try:
                answer = wire.exchange(request, expect, deadline)
            except IlsUnreachable as err:
                self._failed(err)
                raise
            self._ok()
            return answer

    def _connected(self, deadline: float) -> Sip2Wire:
        if self._wire is not None:
            return self._wire
        wire = Sip2Wire(self.endpoint, deadline)
        try:
            login = self.login_data
            answer: SIPResponse = wire.exchange(LoginRequest(
                uid_algorithm="0", pwd_algorithm="0", login_user_id=login.user,
                login_password=login.password, location_code=login.location or None),
                LoginResponse, deadline)
            if not isinstance(answer, LoginResponse) or answer.ok != "1":
                raise IlsLoginRefused(None, f"login of {login.user!r} refused")
            self.acs_status = wire.exchange(SCStatusRequest(
                status_code="0", max_print_width="040", protocol_version="2.00"),
                ACSStatusResponse, deadline)
        except IlsError:
            wire.close()
            raise
        log.info("SIP2 logged in to %s:%s as %s", self.endpoint.host, self.endpoint.port,
                 login.user)
        self._wire = wire
        return wire

    def _drop(self) -> None:
        if self._wire is not None:
            self._wire.close()
            self._wire = None

    def _failed(self, err: IlsError) -> None:
        self._drop()  # a timed-out or broken exchange leaves the stream in an unknown state
        self._backoff = min(self.max_backoff_s, self._backoff * 2 or self.min_backoff_s)
        self._retry_at = monotonic() + self._backoff
        was_up = self._link.up
        self._link = replace(self._link, up=False, last_error=err.message_id,
                             last_error_detail=err.detail, last_error_at=self.clock.now())
        log.warning("ILS unreachable (%s: %s); next try in %.2f s", err.message_id, err.detail,
                    self._backoff)
        if was_up:
            self._notify()

    def _ok(self) -> None:
        self._backoff = 0.0
        self._retry_at = 0.0
        now = monotonic()
        was_up = self._link.up
        if not was_up or now - self._last_exchange >= 1.0:  # last_ok_at to the second is enough
            self._link = replace(self._link, up=True, last_ok_at=self.clock.now())
        self._last_exchange = now
        if not was_up:
            self._notify()

    def _notify(self) -> None:
        link = self._link
        for listener in list(self._listeners):
            try:
                listener(link)
            except Exception:  # a listener's failure never breaks the link
                log.exception("ILS link listener failed")

    def _heartbeat_loop(self) -> None:
        while not self._stop.is_set():
            idle = monotonic() - self._last_exchange
            if not self._link.up or idle >= self.heartbeat_s:
                with contextlib.suppress(IlsError):  # logged and shown by _failed
                    self.sc_status()
            wait = max(0.05, min(self.heartbeat_s, self._retry_at - monotonic())
                       if not self._link.up else self.heartbeat_s)
            self._stop.wait(wait)

    def _now(self) -> str:
        """The clock's time as SIP2 writes it, formatted once a second (every message has it):
        the same text object until the clock leaves that second (or its time zone)."""
        at = self.clock.now()
        cached = self._date  # one tuple: a thread never sees a second with another's text
        # the same tzinfo first: datetimes of one tzinfo compare by their wall-clock fields,
        # which is what the text shows (two datetimes' fields, six reads each, cost twice this)
        if not (at.tzinfo is cached[2] and cached[0] <= at < cached[1]):
            start = at.replace(microsecond=0)
            cached = self._date = (start, start + _SECOND, at.tzinfo, sip_datetime(at))
        return cached[3]

    def _inst(self) -> str:
        return self.login_data.institution_id
