"""The committed generated code matches the .proto sources; the contracts follow our naming rules."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from google.protobuf.descriptor import FileDescriptor
from granary.v1 import (
    audit_pb2,
    credit_pb2,
    customer_pb2,
    events_pb2,
    fieldtask_pb2,
    notification_pb2,
    process_pb2,
)

ROOT = Path(__file__).resolve().parents[3]


def _generator():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("proto_generate", ROOT / "proto" / "generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_code_is_not_stale() -> None:
    stale = _generator().stale_files()
    assert stale == [], f"run `make proto`: {stale}"


def test_a_changed_proto_is_detected(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    generator = _generator()
    copy = tmp_path / "proto"
    (copy / "granary" / "v1").mkdir(parents=True)
    for path in (ROOT / "proto" / "granary" / "v1").iterdir():
        if path.is_file():
            (copy / "granary" / "v1" / path.name).write_bytes(path.read_bytes())
    source = copy / "granary" / "v1" / "notification.proto"
    source.write_text(source.read_text().replace("string body = 4;", "string body = 4;\n  string extra = 9;"))
    monkeypatch.setattr(generator, "PROTO_ROOT", copy)
    monkeypatch.setattr(generator, "PACKAGE_DIR", copy / "granary" / "v1")
    assert generator.stale_files() == ["notification_pb2.py", "notification_pb2.pyi"]


SERVICE_FILES: list[FileDescriptor] = [
    audit_pb2.DESCRIPTOR,
    customer_pb2.DESCRIPTOR,
    credit_pb2.DESCRIPTOR,
    fieldtask_pb2.DESCRIPTOR,
    notification_pb2.DESCRIPTOR,
    process_pb2.DESCRIPTOR,
]


def test_every_rpc_has_its_own_request_and_response() -> None:
    seen: set[str] = set()
    for file in SERVICE_FILES:
        assert len(file.services_by_name) == 1, file.name
        for service in file.services_by_name.values():
            assert service.methods, f"{service.name} has no call"
            for method in service.methods:
                assert method.input_type.name == f"{method.name}Request"
                assert method.output_type.name == f"{method.name}Response"
                assert method.input_type.full_name not in seen
                seen.add(method.input_type.full_name)


def test_envelope_carries_the_cloudevents_attributes() -> None:
    fields = {f.name for f in events_pb2.Event.DESCRIPTOR.fields}
    assert {"id", "type", "source", "subject", "time", "data"} <= fields
