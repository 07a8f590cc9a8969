"""Which consumer failures are waited out rather than parked for an operator."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from services.common.consumer import is_transient
from services.common.errors import InvalidArgument, NotFound, Unavailable
from services.common.grpc_errors import RemoteError


@pytest.mark.parametrize(
    "failure",
    [
        RemoteError(status="UNAVAILABLE", message="failed to connect to all addresses"),
        RemoteError(status="DEADLINE_EXCEEDED", message="Deadline Exceeded"),
        RemoteError(status="RESOURCE_EXHAUSTED", message="too many requests"),
        Unavailable("the credit bureau does not answer"),
        OperationalError("SELECT 1", {}, Exception("connection refused")),
        ConnectionResetError("reset by peer"),
        TimeoutError(),
    ],
)
def test_a_dependency_that_is_down_is_transient(failure: BaseException) -> None:
    assert is_transient(failure)


@pytest.mark.parametrize(
    "failure",
    [
        RemoteError(status="INVALID_ARGUMENT", message="amount: must be positive"),
        RemoteError(status="NOT_FOUND", message="no such application"),
        RemoteError(status="INTERNAL", message="internal error"),
        InvalidArgument.for_field("id_number", "wrong check digit"),
        NotFound("no such party"),
        IntegrityError("INSERT", {}, Exception("duplicate key")),
        KeyError("missing"),
        RuntimeError("handler bug"),
    ],
)
def test_a_failure_that_would_repeat_is_not(failure: BaseException) -> None:
    assert not is_transient(failure)
