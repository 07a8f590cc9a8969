"""The outbox, inbox and parked-event tables every service database holds.

They live on their own MetaData so the relay and consumers can query any service's database
with the same Table objects; each service's first migration creates them.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.engine import Connection

metadata = MetaData()

# SQLite only auto-increments an INTEGER PRIMARY KEY.
_SEQ = BigInteger().with_variant(Integer(), "sqlite")

outbox = Table(
    "outbox",
    metadata,
    Column("seq", _SEQ, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("event_type", String(120), nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("headers", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("published_at", DateTime(timezone=True), nullable=True),
    Index(
        "ix_outbox_unpublished",
        "seq",
        postgresql_where=text("published_at IS NULL"),
        sqlite_where=text("published_at IS NULL"),
    ),
)

inbox = Table(
    "inbox",
    metadata,
    Column("consumer", String(120), primary_key=True),
    Column("event_id", String(36), primary_key=True),
    Column("event_type", String(120), nullable=False),
    Column("processed_at", DateTime(timezone=True), nullable=False),
)

parked_events = Table(
    "parked_events",
    metadata,
    Column("id", _SEQ, primary_key=True, autoincrement=True),
    Column("consumer", String(120), nullable=False),
    Column("event_id", String(36), nullable=False),
    Column("event_type", String(120), nullable=False),
    Column("nats_subject", String(200), nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("headers", JSON, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("error", Text, nullable=False),
    Column("parked_at", DateTime(timezone=True), nullable=False),
    Column("replayed_at", DateTime(timezone=True), nullable=True),
    Column("replay_count", Integer, nullable=False, server_default="0"),
    Index("ix_parked_events_open", "consumer", "parked_at"),
)


def create_messaging_tables_v1(bind: Connection) -> None:
    """Used by each service's first migration.

    When these tables change, freeze this version here and add a v2 step, so that old
    migrations keep producing the schema they produced when they were written.
    """
    metadata.create_all(bind=bind, tables=[outbox, inbox, parked_events])


def drop_messaging_tables_v1(bind: Connection) -> None:
    metadata.drop_all(bind=bind, tables=[outbox, inbox, parked_events])


# --------------------------------------------------------------------------- v2: audit, idempotency

audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", _SEQ, primary_key=True, autoincrement=True),
    Column("id", String(36), nullable=False, unique=True),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("actor_id", String(80), nullable=False),
    Column("actor_kind", String(16), nullable=False),
    Column("actor_roles", JSON, nullable=False),
    Column("actor_branch_id", String(36), nullable=False),
    Column("action", String(80), nullable=False),
    Column("entity_type", String(80), nullable=False),
    Column("entity_id", String(80), nullable=False),
    Column("details", JSON, nullable=False),
    Column("trace_id", String(32), nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index("ix_audit_log_entity", "entity_type", "entity_id"),
    Index("ix_audit_log_actor", "actor_id", "occurred_at"),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("method", String(200), primary_key=True),
    Column("caller_id", String(80), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("response", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)


def create_platform_tables_v2(bind: Connection) -> None:
    """Second platform step of every service's migrations: the audit log and idempotency keys."""
    metadata.create_all(bind=bind, tables=[audit_log, idempotency_keys])


def drop_platform_tables_v2(bind: Connection) -> None:
    metadata.drop_all(bind=bind, tables=[audit_log, idempotency_keys])
