"""A tamper-evident audit log in every service's database.

Entries are written in the same transaction as the change they describe (so neither exists
without the other) and chained: each entry's hash covers its content and the previous hash.
Editing, deleting or reordering a committed entry breaks the chain, which ``verify_chain``
(``granary audit verify``) detects. Appends are serialised per database: a transaction-scoped
advisory lock on PostgreSQL, the writer lock on SQLite.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from opentelemetry import trace
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from services.common.clock import as_utc, new_id, utcnow
from services.common.db import lock_until_commit
from services.common.identity import current_caller
from services.common.messaging_schema import audit_log

GENESIS = "0" * 64


@dataclass(frozen=True)
class AuditEntry:
    action: str
    entity_type: str
    entity_id: str
    details: dict[str, Any]


def _canonical(row: dict[str, Any]) -> bytes:
    fields = {
        "id": row["id"],
        "occurred_at": as_utc(row["occurred_at"]).isoformat(timespec="microseconds"),
        "actor_id": row["actor_id"],
        "actor_kind": row["actor_kind"],
        "actor_roles": sorted(row["actor_roles"]),
        "actor_branch_id": row["actor_branch_id"],
        "action": row["action"],
        "entity_type": row["entity_type"],
        "entity_id": row["entity_id"],
        "details": row["details"],
        "trace_id": row["trace_id"],
    }
    return json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def entry_hash(prev_hash: str, row: dict[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode() + _canonical(row)).hexdigest()


async def append(session: AsyncSession, entries: list[AuditEntry]) -> None:
    """Writes entries at the end of the chain; call inside the transaction, just before commit."""
    # No other transaction may append between our read of the last hash and our insert. (On
    # SQLite this is the writer lock; a process-wide asyncio lock taken at commit would deadlock
    # against a transaction that already wrote and waits for it.)
    await lock_until_commit(session, "granary:audit-chain")
    prev = await session.scalar(select(audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)) or GENESIS
    caller = current_caller()
    span = trace.get_current_span().get_span_context()
    now = utcnow()
    rows = []
    for entry in entries:
        row: dict[str, Any] = {
            "id": new_id(),
            "occurred_at": now,
            "actor_id": caller.user_id if caller else "anonymous",
            "actor_kind": caller.kind if caller else "unknown",
            "actor_roles": sorted(caller.roles) if caller else [],
            "actor_branch_id": caller.branch_id if caller else "",
            "action": entry.action,
            "entity_type": entry.entity_type,
            "entity_id": entry.entity_id,
            # JSON round trip: what is hashed is exactly what the database will give back.
            "details": json.loads(json.dumps(entry.details, ensure_ascii=False, default=str)),
            "trace_id": f"{span.trace_id:032x}" if span.is_valid else "",
            "prev_hash": prev,
        }
        row["hash"] = prev = entry_hash(row["prev_hash"], row)
        rows.append(row)
    await session.execute(insert(audit_log), rows)


@dataclass(frozen=True)
class ChainReport:
    entries: int
    broken_at_seq: int | None
    reason: str

    @property
    def intact(self) -> bool:
        return self.broken_at_seq is None


async def verify_chain(engine: AsyncEngine, *, batch_size: int = 1000) -> ChainReport:
    """Recomputes every hash in order; reports the first entry that does not fit.

    Reads in keyset batches (seq > last seen), so a long log needs neither a server-side
    cursor nor the whole log in memory.
    """
    prev = GENESIS
    count = 0
    last_seq: int | None = None
    while True:
        query = select(audit_log).order_by(audit_log.c.seq).limit(batch_size)
        if last_seq is not None:
            query = query.where(audit_log.c.seq > last_seq)
        async with engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        for row in rows:
            count += 1
            if row["prev_hash"] != prev:
                return ChainReport(count, row["seq"], "previous hash does not match (entry removed or reordered)")
            if entry_hash(prev, dict(row)) != row["hash"]:
                return ChainReport(count, row["seq"], "content does not match its hash (entry altered)")
            prev = row["hash"]
            last_seq = row["seq"]
        if len(rows) < batch_size:
            return ChainReport(count, None, "intact")


async def list_entries(
    engine: AsyncEngine,
    *,
    entity_type: str = "",
    entity_id: str = "",
    actor_id: str = "",
    action: str = "",
    limit: int,
    before_seq: int | None = None,
) -> list[dict[str, Any]]:
    """Newest first, filtered; ``before_seq`` continues a page."""
    query = select(audit_log).order_by(audit_log.c.seq.desc()).limit(limit)
    for column, value in (
        (audit_log.c.entity_type, entity_type),
        (audit_log.c.entity_id, entity_id),
        (audit_log.c.actor_id, actor_id),
        (audit_log.c.action, action),
    ):
        if value:
            query = query.where(column == value)
    if before_seq is not None:
        query = query.where(audit_log.c.seq < before_seq)
    async with engine.connect() as conn:
        return [dict(r) for r in (await conn.execute(query)).mappings().all()]
