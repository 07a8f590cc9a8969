"""The remote blob stores against real servers: NATS JetStream's object store and an
S3-compatible server (moto's stand-alone server process, spoken to over HTTP)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import nats
import pytest
from nats.js.errors import NotFoundError

from services.common.blobstore import BlobStore, BlobTooLarge, NatsObjectBlobStore, S3BlobStore, S3Location
from tests.conftest import IN_CI

pytestmark = pytest.mark.integration


async def exercise(store: BlobStore, names: Callable[[], Awaitable[list[str]]]) -> None:
    """What every store must do, seen from a caller."""
    big = os.urandom(300_000)  # several chunks, and beyond one NATS chunk (128 KiB)
    info = await store.put(big)
    assert info.sha256 == hashlib.sha256(big).hexdigest() and info.size == len(big)
    assert (await store.put(big)).sha256 == info.sha256
    assert await names() == [info.sha256]
    assert await store.exists(info.sha256)
    assert await store.read(info.sha256) == big
    streamed = [chunk async for chunk in store.stream(info.sha256)]
    assert len(streamed) > 1 and b"".join(streamed) == big

    # Staged writes: nothing visible before commit, nothing left after an abort or overflow.
    with pytest.raises(BlobTooLarge):
        async with store.writer(max_bytes=10) as writer:
            await writer.write(b"0123456789")
            await writer.write(b"x")
    with pytest.raises(RuntimeError, match="went away"):
        async with store.writer() as writer:
            await writer.write(b"half a photo")
            raise RuntimeError("client went away")
    assert not await store.exists(hashlib.sha256(b"half a photo").hexdigest())
    async with store.writer(max_bytes=100) as writer:
        await writer.write(b"small ")
        await writer.write(b"file")
        small = await writer.commit()
    assert await store.read(small.sha256) == b"small file"
    assert sorted(await names()) == sorted([info.sha256, small.sha256])

    missing = "0" * 64
    assert not await store.exists(missing)
    with pytest.raises(KeyError):
        await store.read(missing)
    with pytest.raises(KeyError):
        _ = [c async for c in store.stream(missing)]
    with pytest.raises(ValueError):
        await store.exists("../../etc/passwd")

    await store.delete(info.sha256)
    await store.delete(info.sha256)  # deleting twice is harmless
    assert not await store.exists(info.sha256)
    assert await names() == [small.sha256]


async def test_nats_object_store_behaves_like_the_local_store(nats_url: str) -> None:
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    bucket = f"granary-test-{uuid.uuid4().hex[:12]}"
    store = NatsObjectBlobStore(lambda: js, bucket)

    async def names() -> list[str]:
        try:
            entries = await (await js.object_store(bucket)).list(ignore_deletes=True)
        except NotFoundError:
            return []
        return sorted(e.name for e in entries)

    try:
        await exercise(store, names)
    finally:
        with contextlib.suppress(NotFoundError):
            await js.delete_object_store(bucket)
        await nc.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def s3_server(tmp_path: Path) -> Iterator[str]:
    """A real S3-compatible HTTP server in its own process."""
    binary = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or shutil.which("moto_server")
    if binary is None:
        message = "no S3-compatible server (moto_server) is installed"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    port = _free_port()
    log = (tmp_path / "s3.log").open("wb")
    process = subprocess.Popen([binary, "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(200):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            time.sleep(0.05)
        else:
            pytest.fail("the S3 server did not start")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


async def test_s3_store_behaves_like_the_local_store(s3_server: str) -> None:
    location = S3Location(
        endpoint_url=s3_server,
        bucket="granary-evidence",
        region="us-east-1",
        access_key_id="test-key",
        secret_access_key="test-secret",
        prefix="fieldtask/",
    )
    store = S3BlobStore(location)
    await store.ensure_bucket()
    client = await store._s3()

    async def names() -> list[str]:
        listed = await client.list_objects_v2(Bucket=location.bucket)
        keys = [item["Key"] for item in listed.get("Contents", [])]
        assert all(k.startswith("fieldtask/sha256/") for k in keys)
        return sorted(k.rsplit("/", 1)[1] for k in keys)

    try:
        await exercise(store, names)
    finally:
        await store.close()
