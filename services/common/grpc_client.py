"""gRPC aio channels to other services: deadlines, caller identity, tracing on every call."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc
from opentelemetry.instrumentation.grpc import aio_client_interceptors

from services.common.grpc_errors import from_rpc_error
from services.common.idempotency import METADATA_KEY as IDEMPOTENCY_KEY
from services.common.idempotency import current_key as current_idempotency_key
from services.common.identity import METADATA_KEY, Caller, acting_as, current_caller

StubT = TypeVar("StubT")
RequestT = TypeVar("RequestT")
ResponseT = TypeVar("ResponseT")


class _CallerAndDeadline:
    """Adds the caller's identity, the idempotency key and a default deadline to a call."""

    def __init__(self, default_timeout: float, fallback_caller: Callable[[], Caller]) -> None:
        self._timeout = default_timeout
        self._fallback = fallback_caller

    def _details(self, client_call_details: Any) -> grpc.aio.ClientCallDetails:
        caller = current_caller() or self._fallback()
        metadata = [
            (k, v) for k, v in (client_call_details.metadata or ()) if k not in (METADATA_KEY, IDEMPOTENCY_KEY)
        ] + [(METADATA_KEY, caller.token)]
        key = current_idempotency_key()
        if key:
            metadata.append((IDEMPOTENCY_KEY, key))
        details = grpc.aio.ClientCallDetails(
            method=client_call_details.method,
            # Every call has a deadline: a hung service must not hang its callers.
            timeout=client_call_details.timeout if client_call_details.timeout is not None else self._timeout,
            metadata=grpc.aio.Metadata(*metadata),
            credentials=client_call_details.credentials,
            wait_for_ready=client_call_details.wait_for_ready,
        )
        return details


# A channel files each interceptor under one call kind only: one class per kind.
class _DeadlineAndCaller(_CallerAndDeadline, grpc.aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        return await continuation(self._details(client_call_details), request)


class _StreamUnaryDeadlineAndCaller(_CallerAndDeadline, grpc.aio.StreamUnaryClientInterceptor):
    async def intercept_stream_unary(self, continuation: Any, client_call_details: Any, request_iterator: Any) -> Any:
        return await continuation(self._details(client_call_details), request_iterator)


class _UnaryStreamDeadlineAndCaller(_CallerAndDeadline, grpc.aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        return await continuation(self._details(client_call_details), request)


class ServiceChannels:
    """One channel per target address, opened lazily and shared by all stubs."""

    def __init__(self, *, default_timeout: float, fallback_caller: Callable[[], Caller]) -> None:
        self._interceptors: list[Any] = [
            *aio_client_interceptors(),
            _DeadlineAndCaller(default_timeout, fallback_caller),
            _StreamUnaryDeadlineAndCaller(default_timeout, fallback_caller),
            _UnaryStreamDeadlineAndCaller(default_timeout, fallback_caller),
        ]
        self._channels: dict[str, grpc.aio.Channel] = {}

    def channel(self, address: str) -> grpc.aio.Channel:
        if address not in self._channels:
            self._channels[address] = grpc.aio.insecure_channel(address, interceptors=self._interceptors)
        return self._channels[address]

    def stub(self, address: str, stub_type: Callable[[grpc.aio.Channel], StubT]) -> StubT:
        return stub_type(self.channel(address))

    async def close(self) -> None:
        channels, self._channels = self._channels, {}
        for channel in channels.values():
            await channel.close()


async def call(
    method: Callable[[RequestT], Awaitable[ResponseT]], request: RequestT, *, caller: Caller | None = None
) -> ResponseT:
    """Calls a stub method (as ``caller`` when given); a failure comes back as a RemoteError."""
    with acting_as(caller) if caller is not None else contextlib.nullcontext():
        try:
            return await method(request)
        except grpc.aio.AioRpcError as exc:
            raise from_rpc_error(exc) from None
