"""Idempotent commands: a repeated request with the same key gets the first answer again.

Front ends send ``Idempotency-Key`` on POST; the gateway forwards it as gRPC metadata and the
server interceptor of the service stores the response of the first successful call per
(method, caller, key). A repeat with the same request returns that response without running
the command again; the same key with a different request is refused (409). Failures are not
stored, so a failed command can be retried with its key. The response is stored just after
the command's own commit, not inside it: a crash in between lets one retry run the command
again, which natural keys in the domain (ID numbers, external references) still catch, and
use cases that keep ``received_key()`` with what they write (approval opinions) recognise.
"""

from __future__ import annotations

import contextvars
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.common.clock import utcnow
from services.common.db import insert_once
from services.common.errors import AlreadyExists, InvalidArgument
from services.common.messaging_schema import idempotency_keys

METADATA_KEY = "x-granary-idempotency-key"
MAX_KEY_LENGTH = 200
# Queries change nothing, so they need no key.
_QUERY_PREFIXES = ("Get", "List", "Check", "Search", "Validate", "Authenticate")

_current: contextvars.ContextVar[str | None] = contextvars.ContextVar("granary_idempotency_key", default=None)


# The key the command being served arrived with (server side; never sent on by outgoing calls).
_received: contextvars.ContextVar[str | None] = contextvars.ContextVar("granary_received_key", default=None)


def current_key() -> str | None:
    return _current.get()


def received_key() -> str:
    """The Idempotency-Key of the command being served, or "".

    For a use case that keeps the key with what it writes, in the same transaction, so that
    even a retry after a crash between that commit and the stored response applies nothing
    twice.
    """
    return _received.get() or ""


@contextmanager
def serving_key(key: str) -> Iterator[None]:
    token = _received.set(key)
    try:
        yield
    finally:
        _received.reset(token)


@contextmanager
def idempotency_key(key: str | None) -> Iterator[None]:
    token = _current.set(key)
    try:
        yield
    finally:
        _current.reset(token)


def check_key(key: str) -> str:
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise InvalidArgument.for_field("Idempotency-Key", f"1-{MAX_KEY_LENGTH} printable characters")
    return key


def is_command(method: str) -> bool:
    return not method.rsplit("/", 1)[-1].startswith(_QUERY_PREFIXES)


def request_hash(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


class IdempotencyKeyReused(AlreadyExists):
    reason = "IDEMPOTENCY_KEY_REUSED"


class IdempotencyStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def replay(self, *, method: str, caller_id: str, key: str, digest: str) -> bytes | None:
        """The stored response of an earlier identical request, or None."""
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    select(idempotency_keys.c.request_hash, idempotency_keys.c.response).where(
                        idempotency_keys.c.method == method,
                        idempotency_keys.c.caller_id == caller_id,
                        idempotency_keys.c.key == key,
                    )
                )
            ).first()
        if row is None:
            return None
        if row.request_hash != digest:
            raise IdempotencyKeyReused("this Idempotency-Key was already used for a different request")
        return bytes(row.response)

    async def remember(self, *, method: str, caller_id: str, key: str, digest: str, response: bytes) -> None:
        values = {
            "method": method,
            "caller_id": caller_id,
            "key": key,
            "request_hash": digest,
            "response": response,
            "created_at": utcnow(),
        }
        async with self._engine.begin() as conn:
            await insert_once(conn, idempotency_keys, values)
