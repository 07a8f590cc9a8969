"""/api/v1/audit: the tamper-evident audit trail of every service (auditors, administrators)."""

from __future__ import annotations

import json
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from granary.v1 import audit_pb2
from pydantic import BaseModel

from gateway.auth import CurrentUser, RequireRoles
from gateway.paging import DEFAULT_LIMIT, Cursor, Limit, page
from services.common.grpc_client import call
from services.common.grpc_errors import RemoteError
from services.common.settings import SERVICE_NAMES
from services.common.timestamps import from_timestamp

router = APIRouter(
    prefix="/audit", tags=["audit"], dependencies=[Depends(RequireRoles("auditor", "admin"))]
)

ServiceName = Literal["customer", "credit", "fieldtask", "notification", "process"]


class AuditEntryRead(BaseModel):
    seq: int
    occurred_at: str
    actor_id: str
    actor_roles: list[str]
    actor_branch_id: str
    action: str
    entity_type: str
    entity_id: str
    details: dict[str, Any]
    trace_id: str
    hash: str


class AuditPage(BaseModel):
    items: list[AuditEntryRead]
    next_cursor: str | None


class WitnessRead(BaseModel):
    """The chain compared with the head last recorded outside the service's database."""

    status: Literal["matches", "not_witnessed", "truncated", "rewritten", "unavailable"]
    detail: str
    seq: int | None = None
    hash: str | None = None
    entries: int | None = None
    witnessed_at: str | None = None


class ChainRead(BaseModel):
    service: str
    # False when the chain is broken or no longer holds its witnessed head; null: service unreachable.
    intact: bool | None
    entries: int
    broken_at_seq: int | None
    reason: str
    witness: WitnessRead | None = None


@router.get("", response_model=AuditPage)
async def list_audit_entries(
    request: Request,
    user: CurrentUser,
    service: ServiceName,
    entity_type: str = "",
    entity_id: str = "",
    actor_id: str = "",
    action: str = "",
    limit: int = Query(50, ge=1, le=200),
    cursor: str = "",
) -> AuditPage:
    reply = await call(
        request.app.state.backend.audit(service).ListAuditEntries,
        audit_pb2.ListAuditEntriesRequest(
            entity_type=entity_type,
            entity_id=entity_id,
            actor_id=actor_id,
            action=action,
            page_size=limit,
            page_token=cursor,
        ),
        caller=user,
    )
    return AuditPage(
        items=[
            AuditEntryRead(
                seq=e.seq,
                occurred_at=from_timestamp(e.occurred_at).isoformat(),
                actor_id=e.actor_id,
                actor_roles=list(e.actor_roles),
                actor_branch_id=e.actor_branch_id,
                action=e.action,
                entity_type=e.entity_type,
                entity_id=e.entity_id,
                details=json.loads(e.details_json or "{}"),
                trace_id=e.trace_id,
                hash=e.hash,
            )
            for e in reply.entries
        ],
        next_cursor=reply.next_page_token or None,
    )


class ChainPage(BaseModel):
    items: list[ChainRead]
    next_cursor: str | None = None


@router.get("/verify", response_model=ChainPage)
async def verify_audit_chains(
    request: Request, user: CurrentUser, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = ""
) -> ChainPage:
    """Recomputes every service's hash chain (by service name) and compares it with its witnessed head.

    A broken link names the first bad entry; a chain cut short or rewritten after its head was
    witnessed is reported by `witness.status` (`truncated`, `rewritten`) with `intact: false`.
    """
    services, next_cursor = page(SERVICE_NAMES, str, limit, cursor)
    results: list[ChainRead] = []
    for service in services:
        try:
            reply = await call(
                request.app.state.backend.audit(service).VerifyAuditChain,
                audit_pb2.VerifyAuditChainRequest(),
                caller=user,
            )
        except RemoteError as exc:
            # One unreachable service must not hide the verdict on the others.
            results.append(ChainRead(service=service, intact=None, entries=0, broken_at_seq=None, reason=str(exc)))
            continue
        results.append(
            ChainRead(
                service=service,
                intact=reply.intact,
                entries=reply.entries,
                broken_at_seq=reply.broken_at_seq or None,
                reason=reply.reason,
                witness=_witness(reply.witness) if reply.HasField("witness") else None,
            )
        )
    return ChainPage(items=results, next_cursor=next_cursor)


def _witness(result: audit_pb2.AuditWitnessResult) -> WitnessRead:
    witnessed = result.seq > 0
    return WitnessRead(
        status=result.status,  # type: ignore[arg-type]
        detail=result.detail,
        seq=result.seq if witnessed else None,
        hash=result.hash if witnessed else None,
        entries=result.entries if witnessed else None,
        witnessed_at=from_timestamp(result.witnessed_at).isoformat() if witnessed else None,
    )
