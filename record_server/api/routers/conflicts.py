"""Conflicts the sync recorded, and the catalogue of named conflict rules."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from record_server import apply
from record_server import schemas as s
from record_server.api.deps import ERRORS, ReadConn, StaffDep
from record_server.crud import conflicts as data
from record_server.responses import RuleCatalogue

router = APIRouter(prefix="/api/v1", tags=["staff"])


@router.get("/conflicts", response_model=list[s.ConflictPublic], responses=ERRORS)
def list_conflicts(staff: StaffDep, conn: ReadConn,
                   rule: Annotated[str | None, Query(max_length=64, pattern=r"^[a-z_]+$")] = None,
                   limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[dict[str, Any]]:
    return data.list_conflicts(conn, rule=rule, limit=limit)


@router.get("/rules", response_model=RuleCatalogue, responses=ERRORS)
def list_rules(staff: StaffDep) -> RuleCatalogue:
    return RuleCatalogue(dict(apply.RULES))
