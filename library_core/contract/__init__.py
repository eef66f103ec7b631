"""The sync contract as types: one pydantic model per event kind and per pulled entity.

The kiosk validates every event when it is written to its outbox (``validate_event``); the
record server validates pushes with the same models (``record_server.schemas`` imports them from
here); the kiosk validates every pulled row with the entity models before it stores it
(``validate_entity``). ``CONTRACT_VERSION`` travels in every event envelope (push) and every
change page (pull); each side accepts the version it ships.

Where the kiosk and the server used to disagree, this package decides once:

- card ``generation`` is at least 1 (the first card a reader gets is generation 1);
- a fee ``description`` holds at most ``FEE_DESCRIPTION_MAX`` characters (``fee_description``
  clips a longer one, so a long title never makes a fine unsendable);
- a kiosk's device status (card reader, printer paper and cover, scanner, software version,
  events waiting, last sync error) rides along with each push (``status.DeviceStatus``);
- a staff card number is unique among staff (the kiosk's store keeps a unique index; a pulled
  staff row that would break it is set aside, see ``server_client.store.replica``).

Every text field can end up on a receipt or a screen, so every text is refused with NUL or
control characters. Pulled entities check types, enums, numeric ranges and text lengths; the
identifier formats are checked where they are made (the events).

Modules: ``types`` (version, limits, clean text types), ``payloads`` (the envelope and one model
per event kind), ``entities`` (one model per pulled entity, the change page, quarantine
reports). Raises nothing at import; ``validate_event`` and ``validate_entity`` raise
``ContractError``.
"""

from __future__ import annotations

from library_core.contract.entities import (
    ENTITIES,
    ENTITY_KEYS,
    CardEntity,
    Change,
    ChangesPage,
    Entity,
    FeeEntity,
    FeeScheduleEntity,
    ItemEntity,
    LoanEntity,
    QuarantinedRow,
    ReaderEntity,
    RowDescription,
    RowId,
    RowName,
    RowUid,
    StaffEntity,
    Stamp,
    entity_columns,
    entity_refusals,
    validate_entity,
)
from library_core.contract.payloads import (
    PAYLOADS,
    Allocation,
    CardBlocked,
    CardCancelled,
    CardIssued,
    CardRenewed,
    CardReplaced,
    DayClosed,
    DepositRefunded,
    EventEnvelope,
    EventKind,
    FeeAssessed,
    FeeWaived,
    LoanReturned,
    PaymentRecorded,
    ReaderRegistered,
    VisitClosed,
    VisitOpened,
    payload_json_schemas,
    validate_event,
)
from library_core.contract.proof import (
    StaffProof,
    canonical_event_bytes,
    event_mac,
    mac_matches,
    offline_mac_key,
    offline_verifier,
)
from library_core.contract.status import (
    CardReaderState,
    DeviceStatus,
    IlsLinkStatus,
    PaperState,
    PrinterState,
    ScannerState,
    device_status,
)
from library_core.contract.types import (
    CONTRACT_VERSION,
    FEE_DESCRIPTION_MAX,
    MAX_FEN,
    MAX_SEQ,
    TITLE_MAX,
    Barcode,
    CardNo,
    ContractError,
    Description,
    EntityId,
    FeeKind,
    Fen,
    Generation,
    IsoDate,
    IsoDateTime,
    KioskId,
    Name,
    Pin,
    PinHash,
    ReceiptNo,
    StaffNo,
    Strict,
    Uid,
    fee_description,
    first_error,
    text,
)

__all__ = [
    "Allocation",
    "Barcode",
    "CONTRACT_VERSION",
    "CardBlocked",
    "CardCancelled",
    "CardEntity",
    "CardIssued",
    "CardNo",
    "CardReaderState",
    "CardRenewed",
    "CardReplaced",
    "Change",
    "ChangesPage",
    "ContractError",
    "DayClosed",
    "DepositRefunded",
    "Description",
    "DeviceStatus",
    "ENTITIES",
    "ENTITY_KEYS",
    "Entity",
    "EntityId",
    "EventEnvelope",
    "EventKind",
    "FEE_DESCRIPTION_MAX",
    "FeeAssessed",
    "FeeEntity",
    "FeeKind",
    "FeeScheduleEntity",
    "FeeWaived",
    "Fen",
    "Generation",
    "IsoDate",
    "IsoDateTime",
    "ItemEntity",
    "KioskId",
    "LoanEntity",
    "LoanReturned",
    "MAX_FEN",
    "MAX_SEQ",
    "Name",
    "PaperState",
    "PAYLOADS",
    "PaymentRecorded",
    "Pin",
    "PrinterState",
    "IlsLinkStatus",
    "PinHash",
    "QuarantinedRow",
    "ReaderEntity",
    "ReaderRegistered",
    "ReceiptNo",
    "RowDescription",
    "RowId",
    "RowName",
    "RowUid",
    "ScannerState",
    "StaffEntity",
    "StaffProof",
    "StaffNo",
    "Stamp",
    "Strict",
    "TITLE_MAX",
    "Uid",
    "VisitClosed",
    "VisitOpened",
    "device_status",
    "canonical_event_bytes",
    "entity_columns",
    "event_mac",
    "entity_refusals",
    "fee_description",
    "first_error",
    "mac_matches",
    "offline_mac_key",
    "offline_verifier",
    "payload_json_schemas",
    "text",
    "validate_entity",
    "validate_event",
]
