"""Content-addressed blob storage: bytes in, SHA-256 name out.

A blob is named by the hex SHA-256 of its bytes, so storing the same content twice stores it
once and a name always proves its content. Writes are staged: bytes go to a temporary object
while they are hashed and counted, and become visible under their name only on ``commit()``;
``abort()`` (or leaving the ``async with`` block with an exception) leaves nothing behind.

``LocalBlobStore`` keeps blobs in a directory (``<root>/sha256/ab/cd/<hex>``). Anything that
implements ``BlobStore`` (an S3-compatible bucket, a NATS object store) can replace it: callers
only see this interface. The module knows nothing of what the bytes mean.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self

_HEX = re.compile(r"^[0-9a-f]{64}$")
READ_CHUNK = 64 * 1024


class BlobTooLarge(Exception):
    """More bytes were written than the writer's limit allows."""


@dataclass(frozen=True)
class BlobInfo:
    sha256: str
    size: int


class BlobWriter(Protocol):
    @property
    def size(self) -> int: ...

    async def write(self, chunk: bytes) -> None: ...

    async def commit(self) -> BlobInfo: ...

    async def abort(self) -> None: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class BlobStore(Protocol):
    def writer(self, *, max_bytes: int | None = None) -> BlobWriter:
        """A staged write; nothing is visible until ``commit()``."""
        ...

    async def put(self, data: bytes) -> BlobInfo: ...

    async def exists(self, sha256: str) -> bool: ...

    async def read(self, sha256: str) -> bytes: ...

    def stream(self, sha256: str) -> AsyncIterator[bytes]: ...

    async def delete(self, sha256: str) -> None: ...


def check_name(sha256: str) -> str:
    if not _HEX.match(sha256):
        raise ValueError("a blob name is 64 lowercase hex digits (SHA-256)")
    return sha256


class _LocalWriter:
    def __init__(self, store: LocalBlobStore, max_bytes: int | None) -> None:
        self._store = store
        self._max = max_bytes
        self._hash = hashlib.sha256()
        self._size = 0
        self._tmp = store.root / "tmp" / f"{uuid.uuid4().hex}.part"
        self._file: object | None = None
        self._done = False

    @property
    def size(self) -> int:
        return self._size

    async def write(self, chunk: bytes) -> None:
        if self._done:
            raise RuntimeError("this blob writer is closed")
        if self._max is not None and self._size + len(chunk) > self._max:
            await self.abort()
            raise BlobTooLarge(f"more than {self._max} bytes")
        self._hash.update(chunk)
        self._size += len(chunk)
        await asyncio.to_thread(self._append, chunk)

    def _append(self, chunk: bytes) -> None:
        self._tmp.parent.mkdir(parents=True, exist_ok=True)
        with self._tmp.open("ab") as handle:
            handle.write(chunk)

    async def commit(self) -> BlobInfo:
        if self._done:
            raise RuntimeError("this blob writer is closed")
        self._done = True
        info = BlobInfo(self._hash.hexdigest(), self._size)
        await asyncio.to_thread(self._publish, info.sha256)
        return info

    def _publish(self, sha256: str) -> None:
        target = self._store.path_of(sha256)
        if not self._tmp.exists():
            self._tmp.parent.mkdir(parents=True, exist_ok=True)
            self._tmp.touch()  # the empty blob
        if target.exists():
            self._tmp.unlink()
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self._tmp, target)

    async def abort(self) -> None:
        self._done = True
        await asyncio.to_thread(self._tmp.unlink, True)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self._done:
            await self.abort()


class LocalBlobStore:
    """Blobs as files under one directory; the default for a single host."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def path_of(self, sha256: str) -> Path:
        name = check_name(sha256)
        return self.root / "sha256" / name[:2] / name[2:4] / name

    def writer(self, *, max_bytes: int | None = None) -> _LocalWriter:
        return _LocalWriter(self, max_bytes)

    async def put(self, data: bytes) -> BlobInfo:
        async with self.writer() as writer:
            await writer.write(data)
            return await writer.commit()

    async def exists(self, sha256: str) -> bool:
        return await asyncio.to_thread(self.path_of(sha256).is_file)

    async def read(self, sha256: str) -> bytes:
        try:
            return await asyncio.to_thread(self.path_of(sha256).read_bytes)
        except FileNotFoundError:
            raise KeyError(sha256) from None

    async def stream(self, sha256: str) -> AsyncIterator[bytes]:
        path = self.path_of(sha256)
        if not path.is_file():
            raise KeyError(sha256)
        with path.open("rb") as handle:
            while chunk := await asyncio.to_thread(handle.read, READ_CHUNK):
                yield chunk

    async def delete(self, sha256: str) -> None:
        await asyncio.to_thread(self.path_of(sha256).unlink, True)

    def names(self) -> list[str]:
        """Every stored blob's name (for maintenance and tests)."""
        base = self.root / "sha256"
        return sorted(p.name for p in base.glob("*/*/*") if p.is_file()) if base.exists() else []


def local_store_for(var_dir: Path, configured: str = "") -> LocalBlobStore:
    """The default store: the configured directory, else ``<var_dir>/blobs``."""
    return LocalBlobStore(Path(configured) if configured else var_dir / "blobs")
