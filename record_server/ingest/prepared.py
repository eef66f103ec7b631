"""What a batch's events need that no database state changes, worked out before the write lock.

On SQLite every push applies its batch under one process-wide write lock (``db.write_grouped``),
so everything done inside it is done one push at a time. Checking each payload against its
kind's model (``library_core.contract.PAYLOADS``) and writing the event row's JSON depend on the
envelope alone: ``prepare`` does both (and the event time's text) for the whole batch before
the push takes the lock, in the request's own thread, so pushes waiting for the lock do this
work meanwhile. ``ordering`` then takes the result (``payload`` raises the same validation error
it would have raised there, at the same point of the event), and works it out itself for an
envelope it was not given.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from pydantic import BaseModel
from pydantic import ValidationError as PydanticError

from library_core import contract as c


@dataclass(frozen=True, slots=True)
class PreparedEvent:
    """One envelope's checked payload (or why it is invalid) and its payload as stored JSON."""

    checked: BaseModel | PydanticError  # the payload's model, or why it is invalid
    payload_json: str
    occurred_at: str  # the envelope's time, ISO 8601, as the event row keeps it

    def payload(self) -> BaseModel:
        """The checked payload. Raises the pydantic ValidationError of an invalid one."""
        if isinstance(self.checked, PydanticError):
            raise self.checked
        return self.checked


def prepare_one(env: c.EventEnvelope) -> PreparedEvent:
    payload_json = json.dumps(env.payload, ensure_ascii=True, sort_keys=True)
    occurred_at = env.occurred_at.isoformat()
    try:
        checked: BaseModel | PydanticError = c.PAYLOADS[env.kind].model_validate(env.payload)
    except PydanticError as err:
        checked = err
    return PreparedEvent(checked, payload_json, occurred_at)


Prepared = dict[int, PreparedEvent]
"""By envelope object (``id(env)``): the batch's list holds them all while the push runs, and a
repeated event id may come with another payload."""


def prepare(envelopes: list[c.EventEnvelope]) -> Prepared:
    """Each envelope's ``PreparedEvent``."""
    return {id(env): prepare_one(env) for env in envelopes}


def get(prepared: Prepared | None, env: c.EventEnvelope) -> PreparedEvent:
    """The prepared event of ``env``, or ``env`` prepared now."""
    found = None if prepared is None else prepared.get(id(env))
    return found if found is not None else prepare_one(env)
