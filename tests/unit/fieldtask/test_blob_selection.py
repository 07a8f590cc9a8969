"""Which evidence store the service uses is a setting; the remote stores name blobs like the local one."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.common.blobstore import LocalBlobStore, NatsObjectBlobStore, S3BlobStore, S3Location
from services.common.settings import FieldTaskSettings
from services.fieldtask.main import blob_store_from


def _js() -> object:
    raise AssertionError("not connected in a unit test")


def test_local_is_the_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("GRANARY_FIELDTASK_BLOB_STORE", raising=False)
    store, close = blob_store_from(FieldTaskSettings(), tmp_path, _js)
    assert isinstance(store, LocalBlobStore) and store.root == tmp_path / "blobs"
    assert close is None


def test_nats_and_s3_are_chosen_by_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GRANARY_FIELDTASK_BLOB_STORE", "nats")
    monkeypatch.setenv("GRANARY_FIELDTASK_BLOB_NATS_BUCKET", "evidence-x")
    store, _ = blob_store_from(FieldTaskSettings(), tmp_path, _js)
    assert isinstance(store, NatsObjectBlobStore) and store.bucket == "evidence-x"

    monkeypatch.setenv("GRANARY_FIELDTASK_BLOB_STORE", "s3")
    with pytest.raises(RuntimeError, match="BLOB_S3_BUCKET"):
        blob_store_from(FieldTaskSettings(), tmp_path, _js)
    monkeypatch.setenv("GRANARY_FIELDTASK_BLOB_S3_BUCKET", "granary")
    monkeypatch.setenv("GRANARY_FIELDTASK_BLOB_S3_ENDPOINT_URL", "http://minio:9000")
    monkeypatch.setenv("GRANARY_FIELDTASK_BLOB_S3_PREFIX", "prod/")
    monkeypatch.setenv("GRANARY_FIELDTASK_BLOB_S3_SECRET_ACCESS_KEY", "s3cret")
    s3, close = blob_store_from(FieldTaskSettings(), tmp_path, _js)
    assert isinstance(s3, S3BlobStore) and close is not None
    assert s3.location == S3Location("http://minio:9000", "granary", "us-east-1", "", "s3cret", "prod/")

    monkeypatch.setenv("GRANARY_FIELDTASK_BLOB_STORE", "ftp")
    with pytest.raises(ValueError):
        FieldTaskSettings()


def test_s3_keys_are_content_addressed_and_checked() -> None:
    store = S3BlobStore(S3Location("http://s3", "b", prefix="fieldtask/"))
    name = "ab" + "c" * 62
    assert store.key_of(name) == f"fieldtask/sha256/ab/cc/{name}"
    with pytest.raises(ValueError):
        store.key_of("../../secrets")
