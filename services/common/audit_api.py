"""AuditService: every service answers auditors' questions about its own audit log."""

from __future__ import annotations

import json

from granary.v1 import audit_pb2, audit_pb2_grpc
from sqlalchemy.ext.asyncio import AsyncEngine

from services.common.audit import list_entries
from services.common.audit_witness import AuditWitness, WitnessCheck, verify_audit
from services.common.errors import PermissionDenied
from services.common.grpc_server import ServicerContext
from services.common.identity import require_caller
from services.common.pagination import decode_cursor, encode_cursor, page_size
from services.common.timestamps import to_timestamp

AUDIT_READERS = ("auditor", "admin")


def _require_reader() -> None:
    if not require_caller().has_role(*AUDIT_READERS):
        raise PermissionDenied("only auditors and administrators read the audit log")


class AuditServicer(audit_pb2_grpc.AuditServiceServicer):
    def __init__(self, engine: AsyncEngine, witness: AuditWitness | None = None) -> None:
        self._engine = engine
        self._witness = witness

    async def ListAuditEntries(
        self, request: audit_pb2.ListAuditEntriesRequest, context: ServicerContext
    ) -> audit_pb2.ListAuditEntriesResponse:
        _require_reader()
        limit = page_size(request.page_size)
        cursor = decode_cursor(request.page_token, 1)
        rows = await list_entries(
            self._engine,
            entity_type=request.entity_type,
            entity_id=request.entity_id,
            actor_id=request.actor_id,
            action=request.action,
            limit=limit + 1,
            before_seq=int(cursor[0]) if cursor else None,
        )
        token = encode_cursor([rows[limit - 1]["seq"]]) if len(rows) > limit else ""
        return audit_pb2.ListAuditEntriesResponse(
            entries=[
                audit_pb2.AuditEntry(
                    seq=r["seq"],
                    id=r["id"],
                    occurred_at=to_timestamp(r["occurred_at"]),
                    actor_id=r["actor_id"],
                    actor_kind=r["actor_kind"],
                    actor_roles=r["actor_roles"],
                    actor_branch_id=r["actor_branch_id"],
                    action=r["action"],
                    entity_type=r["entity_type"],
                    entity_id=r["entity_id"],
                    details_json=json.dumps(r["details"], ensure_ascii=False, sort_keys=True),
                    trace_id=r["trace_id"],
                    hash=r["hash"],
                )
                for r in rows[:limit]
            ],
            next_page_token=token,
        )

    async def VerifyAuditChain(
        self, request: audit_pb2.VerifyAuditChainRequest, context: ServicerContext
    ) -> audit_pb2.VerifyAuditChainResponse:
        _require_reader()
        verdict = await verify_audit(self._engine, self._witness)
        return audit_pb2.VerifyAuditChainResponse(
            intact=verdict.intact,
            entries=verdict.chain.entries,
            broken_at_seq=verdict.chain.broken_at_seq or 0,
            reason=verdict.reason,
            witness=_witness_result(verdict.witness),
        )


def _witness_result(check: WitnessCheck) -> audit_pb2.AuditWitnessResult:
    result = audit_pb2.AuditWitnessResult(status=check.status.value, detail=check.detail)
    if check.head is not None:
        result.seq = check.head.seq
        result.hash = check.head.hash
        result.entries = check.head.entries
        result.witnessed_at.CopyFrom(to_timestamp(check.head.witnessed_at))
    return result
