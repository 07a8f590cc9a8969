"""One active instance of a background job per service database.

On PostgreSQL a session-level advisory lock, held on a dedicated connection, elects the
leader: when the holder dies its connection closes and another replica takes over. SQLite
databases belong to one process, which is always the leader.
"""

from __future__ import annotations

import hashlib
import logging

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger(__name__)


def _lock_key(name: str) -> int:
    digest = hashlib.sha256(name.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class LeaderLock:
    def __init__(self, engine: AsyncEngine, name: str) -> None:
        self._engine = engine
        self._name = name
        self._key = _lock_key(name)
        self._conn: AsyncConnection | None = None
        self._sqlite = engine.dialect.name == "sqlite"

    async def is_leader(self) -> bool:
        """Acquires or confirms leadership; cheap enough to call before every batch."""
        if self._sqlite:
            return True
        try:
            if self._conn is not None:
                await self._conn.execute(text("SELECT 1"))
                return True
            conn = await self._engine.connect()
            acquired = (
                await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self._key})
            ).scalar_one()
            await conn.commit()
            if acquired:
                self._conn = conn
                log.info("leader for %s", self._name)
                return True
            await conn.close()
            return False
        except Exception:
            log.warning("lost the leader lock for %s", self._name, exc_info=True)
            await self.release()
            return False

    async def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
                await conn.commit()
            except Exception:
                log.debug("advisory unlock failed; closing the connection releases it", exc_info=True)
            finally:
                await conn.close()
