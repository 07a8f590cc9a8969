"""Async SQLAlchemy engines: one per service, built by its composition root (never at import)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from sqlalchemy import Table, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(url: str, *, echo: bool = False, **kwargs: Any) -> AsyncEngine:
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, echo=echo, connect_args={"timeout": 30}, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    return create_async_engine(url, echo=echo, **kwargs)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the relay read while a use case writes; foreign keys are off by default in SQLite.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


async def lock_until_commit(session: AsyncSession, name: str) -> None:
    """Makes other transactions that lock the same ``name`` wait until this one ends.

    For a check-then-write that two transactions could otherwise both pass without seeing each
    other's uncommitted rows. PostgreSQL: a transaction-scoped advisory lock on a 64-bit hash of
    the name (re-entrant within the transaction). SQLite allows one writer at a time: a write
    statement that changes nothing takes that lock until commit (every service has audit_log).
    """
    await _lock(session, name, wait=True)


async def try_lock_until_commit(session: AsyncSession, name: str) -> bool:
    """Like ``lock_until_commit`` but never waits on PostgreSQL: False when another holds it.

    For a transaction that already holds row locks and must not wait for a lock that is
    normally taken before them (it would risk a deadlock); it skips the work instead.
    """
    return await _lock(session, name, wait=False)


async def _lock(session: AsyncSession, name: str, *, wait: bool) -> bool:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        key = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)
        if wait:
            await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
            return True
        return bool(await session.scalar(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": key}))
    if dialect == "sqlite":
        await session.execute(text("DELETE FROM audit_log WHERE 0"))
        return True
    raise RuntimeError(f"unsupported database {dialect!r}: Granary runs on PostgreSQL or SQLite")


async def insert_once(db: AsyncSession | AsyncConnection, table: Table, values: dict[str, Any]) -> bool:
    """Inserts the row unless one with the same unique key exists; True when it was inserted.

    One statement (``ON CONFLICT DO NOTHING``), so two concurrent inserts of the same key
    never fail: exactly one of them reports True.
    """
    dialect = db.get_bind().dialect.name if isinstance(db, AsyncSession) else db.dialect.name
    stmt: postgresql.Insert | sqlite.Insert
    if dialect == "postgresql":
        stmt = postgresql.insert(table).values(values).on_conflict_do_nothing()
    elif dialect == "sqlite":
        stmt = sqlite.insert(table).values(values).on_conflict_do_nothing()
    else:
        raise RuntimeError(f"unsupported database {dialect!r}: Granary runs on PostgreSQL or SQLite")
    key = next(iter(table.primary_key.columns))
    result = await db.execute(stmt.returning(key))
    return result.first() is not None
