"""Content-addressed blob storage: bytes in, SHA-256 name out.

A blob is named by the hex SHA-256 of its bytes, so storing the same content twice stores it
once and a name always proves its content. Writes are staged: bytes go to a temporary object
while they are hashed and counted, and become visible under their name only on ``commit()``;
``abort()`` (or leaving the ``async with`` block with an exception) leaves nothing behind.

``LocalBlobStore`` keeps blobs in a directory (``<root>/sha256/ab/cd/<hex>``);
``NatsObjectBlobStore`` in a NATS JetStream object store bucket; ``S3BlobStore`` in an
S3-compatible bucket (``<prefix>sha256/ab/cd/<hex>``). Callers only see the ``BlobStore``
interface. The remote stores stage a write in a local spooled temporary file while it is hashed
and counted and upload it under its name on ``commit()``. The module knows nothing of what the
bytes mean.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Protocol, Self

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


class _SpooledWriter:
    """A staged write for remote stores: hashed and counted into a spooled temporary file,
    uploaded by the store under its SHA-256 only on ``commit()``."""

    SPOOL_IN_MEMORY = 1024 * 1024

    def __init__(self, publish: Callable[[str, int, IO[bytes]], Awaitable[None]], max_bytes: int | None) -> None:
        self._publish = publish
        self._max = max_bytes
        self._hash = hashlib.sha256()
        self._size = 0
        self._file: IO[bytes] | None = tempfile.SpooledTemporaryFile(max_size=self.SPOOL_IN_MEMORY)
        self._done = False

    @property
    def size(self) -> int:
        return self._size

    async def write(self, chunk: bytes) -> None:
        if self._done or self._file is None:
            raise RuntimeError("this blob writer is closed")
        if self._max is not None and self._size + len(chunk) > self._max:
            await self.abort()
            raise BlobTooLarge(f"more than {self._max} bytes")
        self._hash.update(chunk)
        self._size += len(chunk)
        await asyncio.to_thread(self._file.write, chunk)

    async def commit(self) -> BlobInfo:
        if self._done or self._file is None:
            raise RuntimeError("this blob writer is closed")
        self._done = True
        info = BlobInfo(self._hash.hexdigest(), self._size)
        try:
            self._file.seek(0)
            await self._publish(info.sha256, info.size, self._file)
        finally:
            self._close()
        return info

    def _close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    async def abort(self) -> None:
        self._done = True
        self._close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self._done:
            await self.abort()


class NatsObjectBlobStore:
    """Blobs in a NATS JetStream object store bucket (created on first use), named by SHA-256.

    ``js`` returns the process's connected JetStream context (the event bus's, typically).
    """

    def __init__(self, js: Callable[[], Any], bucket: str) -> None:
        self._js = js
        self.bucket = bucket
        self._store: Any = None
        self._lock = asyncio.Lock()

    async def _obs(self) -> Any:
        if self._store is None:
            from nats.js.errors import BucketNotFoundError

            async with self._lock:
                if self._store is None:
                    js = self._js()
                    try:
                        self._store = await js.object_store(self.bucket)
                    except BucketNotFoundError:
                        self._store = await js.create_object_store(self.bucket)
        return self._store

    def writer(self, *, max_bytes: int | None = None) -> _SpooledWriter:
        return _SpooledWriter(self._publish, max_bytes)

    async def _publish(self, sha256: str, size: int, data: IO[bytes]) -> None:
        if await self.exists(sha256):
            return
        await (await self._obs()).put(sha256, data)

    async def put(self, data: bytes) -> BlobInfo:
        async with self.writer() as writer:
            await writer.write(data)
            return await writer.commit()

    async def exists(self, sha256: str) -> bool:
        from nats.js.errors import NotFoundError

        name = check_name(sha256)
        try:
            await (await self._obs()).get_info(name)
        except NotFoundError:
            return False
        return True

    async def read(self, sha256: str) -> bytes:
        from nats.js.errors import NotFoundError

        name = check_name(sha256)
        try:
            result = await (await self._obs()).get(name)
        except NotFoundError:
            raise KeyError(sha256) from None
        return bytes(result.data or b"")

    async def stream(self, sha256: str) -> AsyncIterator[bytes]:
        # The client library reads an object whole (checking its digest): hand it out in chunks.
        data = await self.read(sha256)
        for offset in range(0, len(data), READ_CHUNK):
            yield data[offset : offset + READ_CHUNK]

    async def delete(self, sha256: str) -> None:
        from nats.js.errors import NotFoundError

        name = check_name(sha256)
        with contextlib.suppress(NotFoundError):
            await (await self._obs()).delete(name)


@dataclass(frozen=True)
class S3Location:
    endpoint_url: str
    bucket: str
    region: str = "us-east-1"
    access_key_id: str = ""
    secret_access_key: str = ""
    prefix: str = ""


class S3BlobStore:
    """Blobs in an S3-compatible bucket (AWS S3, MinIO, Ceph, cloud object storage), path-style."""

    def __init__(self, location: S3Location) -> None:
        self.location = location
        self._stack = contextlib.AsyncExitStack()
        self._client: Any = None
        self._lock = asyncio.Lock()

    def key_of(self, sha256: str) -> str:
        name = check_name(sha256)
        return f"{self.location.prefix}sha256/{name[:2]}/{name[2:4]}/{name}"

    async def _s3(self) -> Any:
        if self._client is None:
            from aiobotocore.config import AioConfig
            from aiobotocore.session import get_session

            async with self._lock:
                if self._client is None:
                    loc = self.location
                    self._client = await self._stack.enter_async_context(
                        get_session().create_client(
                            "s3",
                            endpoint_url=loc.endpoint_url or None,
                            region_name=loc.region,
                            aws_access_key_id=loc.access_key_id or None,
                            aws_secret_access_key=loc.secret_access_key or None,
                            config=AioConfig(s3={"addressing_style": "path"}, retries={"max_attempts": 3}),
                        )
                    )
        return self._client

    async def close(self) -> None:
        self._client = None
        await self._stack.aclose()

    async def ensure_bucket(self) -> None:
        """Creates the bucket when it does not exist (set-up and tests; production buckets are provisioned)."""
        from botocore.exceptions import ClientError

        client = await self._s3()
        try:
            await client.head_bucket(Bucket=self.location.bucket)
        except ClientError:
            await client.create_bucket(Bucket=self.location.bucket)

    def writer(self, *, max_bytes: int | None = None) -> _SpooledWriter:
        return _SpooledWriter(self._publish, max_bytes)

    async def _publish(self, sha256: str, size: int, data: IO[bytes]) -> None:
        if await self.exists(sha256):
            return
        body = await asyncio.to_thread(data.read)
        await (await self._s3()).put_object(Bucket=self.location.bucket, Key=self.key_of(sha256), Body=body)

    async def put(self, data: bytes) -> BlobInfo:
        async with self.writer() as writer:
            await writer.write(data)
            return await writer.commit()

    @staticmethod
    def _missing(error: Exception) -> bool:
        response = getattr(error, "response", None) or {}
        code = str(response.get("Error", {}).get("Code", ""))
        return code in ("404", "NoSuchKey", "NotFound")

    async def exists(self, sha256: str) -> bool:
        from botocore.exceptions import ClientError

        key = self.key_of(sha256)
        try:
            await (await self._s3()).head_object(Bucket=self.location.bucket, Key=key)
        except ClientError as error:
            if self._missing(error):
                return False
            raise
        return True

    async def read(self, sha256: str) -> bytes:
        return b"".join([chunk async for chunk in self.stream(sha256)])

    async def stream(self, sha256: str) -> AsyncIterator[bytes]:
        from botocore.exceptions import ClientError

        key = self.key_of(sha256)
        try:
            response = await (await self._s3()).get_object(Bucket=self.location.bucket, Key=key)
        except ClientError as error:
            if self._missing(error):
                raise KeyError(sha256) from None
            raise
        async with response["Body"] as body:
            while chunk := await body.read(READ_CHUNK):
                yield chunk

    async def delete(self, sha256: str) -> None:
        await (await self._s3()).delete_object(Bucket=self.location.bucket, Key=self.key_of(sha256))


def local_store_for(var_dir: Path, configured: str = "") -> LocalBlobStore:
    """The default store: the configured directory, else ``<var_dir>/blobs``."""
    return LocalBlobStore(Path(configured) if configured else var_dir / "blobs")
