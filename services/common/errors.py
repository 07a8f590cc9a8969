"""Error bases every service's domain raises.

They carry no transport: the gRPC interceptor (``grpc_server``) maps them to status codes with
``google.rpc`` details, and the gateway maps those to problem+json. Those are the only two places.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


class DomainError(Exception):
    """Base of every expected failure. ``reason`` is a stable, machine-readable code."""

    status: ClassVar[str] = "INTERNAL"
    reason: ClassVar[str] = "INTERNAL"

    def __init__(self, message: str, *, reason: str | None = None, metadata: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason  # type: ignore[misc]
        self.metadata = dict(metadata or {})


class InvalidArgument(DomainError):
    status = "INVALID_ARGUMENT"
    reason = "INVALID_ARGUMENT"

    def __init__(
        self,
        message: str,
        violations: list[FieldViolation] | None = None,
        *,
        reason: str | None = None,
    ):
        super().__init__(message, reason=reason)
        self.violations = list(violations or [])

    @classmethod
    def for_field(cls, field: str, description: str) -> InvalidArgument:
        return cls(f"{field}: {description}", [FieldViolation(field, description)])


class NotFound(DomainError):
    status = "NOT_FOUND"
    reason = "NOT_FOUND"


class AlreadyExists(DomainError):
    status = "ALREADY_EXISTS"
    reason = "ALREADY_EXISTS"


class FailedPrecondition(DomainError):
    status = "FAILED_PRECONDITION"
    reason = "FAILED_PRECONDITION"


class Conflict(DomainError):
    """Lost a race (optimistic lock, concurrent completion): retrying may succeed."""

    status = "ABORTED"
    reason = "CONFLICT"


class PermissionDenied(DomainError):
    status = "PERMISSION_DENIED"
    reason = "PERMISSION_DENIED"


class Unauthenticated(DomainError):
    status = "UNAUTHENTICATED"
    reason = "UNAUTHENTICATED"


class Unavailable(DomainError):
    status = "UNAVAILABLE"
    reason = "UNAVAILABLE"
