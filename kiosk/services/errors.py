"""Typed refusals the use cases raise; each a branch of ``library_core.errors`` with a message id.

Texts live in the ``errors`` gettext domain (``library_core/locale/*/LC_MESSAGES/errors.po``).
"""

from __future__ import annotations

from library_core.errors import DomainError, PaymentError


class CardRefused(DomainError):
    """A tapped card may not be used: ``card.unknown``, ``card.lost``, ``card.cancelled``,
    ``card.expired``, ``card.in_use`` (not blank: issued to someone), ``card.none``."""

    message_id = "card.unknown"


class ReaderExists(DomainError):
    """The ID number already has a reader with a live card: offer renewal or replacement."""

    message_id = "reader.exists_with_live_card"


class FeesOwed(DomainError):
    """Fees owed are above the configured limit (``fees.owed_above_limit``) or must be paid
    first (``fees.owed_pay_first``)."""

    message_id = "fees.owed_above_limit"


class PinWrong(DomainError):
    """A wrong PIN; ``params['attempts_left']`` says how many tries remain."""

    message_id = "pin.wrong"


class PinLocked(DomainError):
    """Too many wrong PINs; ``params['minutes']`` until the next try is allowed."""

    message_id = "pin.locked"


class ReplacementOffline(DomainError):
    """A reader's PIN is checked by the record server and it cannot be reached (or answered
    with an error): replacement needs the network (``replacement.needs_network``)."""

    message_id = "replacement.needs_network"


class RoleRequired(DomainError):
    """The action needs a staff session with one of ``params['roles']``."""

    message_id = "staff.role_required"


class PaymentRefused(PaymentError):
    """The gateway refused the payment code (``payment.refused``) or was not reachable
    (``payment.timeout``, ``payment.failed``)."""

    message_id = "payment.refused"


class CashStaffOnly(PaymentError):
    """Cash is taken only in staff mode."""

    message_id = "payment.cash_staff_only"


class OfflineLimitExceeded(PaymentError):
    """The record server is out of reach and the payment is above
    ``kiosk.offline_max_payment_fen`` (``payment.offline_limit``; params ``limit``,
    ``limit_text``): a payment the server has not seen may already have been made at another
    kiosk. Cash taken by staff is exempt."""

    message_id = "payment.offline_limit"


class OutOfService(PaymentError):
    """The record server refused this kiosk's token (revoked): no payment is taken until the
    kiosk is enrolled again (``service.out_of_service``)."""

    message_id = "service.out_of_service"
