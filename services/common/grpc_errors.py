"""Domain errors ⇄ gRPC statuses with google.rpc details (BadRequest, ErrorInfo)."""

from __future__ import annotations

from dataclasses import dataclass, field

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from services.common.errors import DomainError, FieldViolation, InvalidArgument

ERROR_DOMAIN = "granary"


def to_status(error: DomainError) -> grpc.Status:
    details: list[any_pb2.Any] = []
    info = any_pb2.Any()
    info.Pack(error_details_pb2.ErrorInfo(reason=error.reason, domain=ERROR_DOMAIN, metadata=error.metadata))
    details.append(info)
    if isinstance(error, InvalidArgument) and error.violations:
        bad_request = any_pb2.Any()
        bad_request.Pack(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
                    for v in error.violations
                ]
            )
        )
        details.append(bad_request)
    return rpc_status.to_status(
        status_pb2.Status(code=code_pb2.Code.Value(error.status), message=error.message, details=details)
    )


# Statuses that mean "not now" rather than "not ever": a later attempt may succeed unchanged.
# Callers with more to retry (ABORTED conflicts, a connector's INTERNAL) add to this set.
TRANSIENT_STATUSES = frozenset({"UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED"})

@dataclass
class RemoteError(Exception):
    """A failed call as the caller sees it: status name, message, stable reason, field errors."""

    status: str
    message: str
    reason: str = ""
    violations: list[FieldViolation] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status}: {self.message}"


def from_rpc_error(error: grpc.aio.AioRpcError) -> RemoteError:
    code = error.code()
    remote = RemoteError(status=code.name if code else "UNKNOWN", message=error.details() or "")
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    if status is None:
        return remote
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            remote.reason = info.reason
            remote.metadata = dict(info.metadata)
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            remote.violations = [FieldViolation(v.field, v.description) for v in bad.field_violations]
    return remote
