"""The content-addressed blob store (local directory implementation)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from services.common.blobstore import BlobTooLarge, LocalBlobStore


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


async def test_put_is_content_addressed_and_deduplicated(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    info = await store.put(b"hello")
    assert info.sha256 == hashlib.sha256(b"hello").hexdigest() and info.size == 5
    assert (await store.put(b"hello")).sha256 == info.sha256
    assert store.names() == [info.sha256]
    assert await store.read(info.sha256) == b"hello"
    assert b"".join([c async for c in store.stream(info.sha256)]) == b"hello"


async def test_an_aborted_or_oversized_write_leaves_nothing(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    with pytest.raises(BlobTooLarge):
        async with store.writer(max_bytes=4) as writer:
            await writer.write(b"abc")
            await writer.write(b"de")
    with pytest.raises(RuntimeError):
        async with store.writer() as writer:
            await writer.write(b"half")
            raise RuntimeError("client went away")
    assert store.names() == []
    assert _files(tmp_path) == []


async def test_names_are_checked(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    with pytest.raises(ValueError):
        await store.exists("../../etc/passwd")
    with pytest.raises(KeyError):
        await store.read("0" * 64)
