"""gRPC aio server bootstrap: health, reflection, caller identity, error mapping, tracing."""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeAlias

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection
from opentelemetry import trace
from opentelemetry.instrumentation.grpc import aio_server_interceptor

from services.common import idempotency
from services.common.errors import DomainError, Unauthenticated
from services.common.grpc_errors import to_status
from services.common.idempotency import IdempotencyStore
from services.common.identity import METADATA_KEY, Caller, TokenSigner, acting_as

# The one name every servicer types its ``context`` parameter with.
ServicerContext: TypeAlias = grpc.aio.ServicerContext  # type: ignore[type-arg]


log = logging.getLogger(__name__)

# Probes and tooling call these without a user.
_OPEN_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")


class CallerAndErrorsInterceptor(grpc.aio.ServerInterceptor):
    """Verifies the caller's signed identity and maps domain errors to rich statuses."""

    def __init__(self, signer: TokenSigner, idempotency: IdempotencyStore | None = None) -> None:
        self._signer = signer
        self._idempotency = idempotency

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method  # type: ignore[attr-defined]
        if handler is None or method.startswith(_OPEN_PREFIXES):
            return handler
        metadata = dict(handler_call_details.invocation_metadata or ())  # type: ignore[attr-defined]
        token = metadata.get(METADATA_KEY, "")
        if handler.unary_unary is None:
            return self._guard_streaming(handler, method, token)
        key = metadata.get(idempotency.METADATA_KEY) if idempotency.is_command(method) else None
        behaviour = handler.unary_unary
        serialize = handler.response_serializer

        async def guarded(request: Any, context: grpc.aio.ServicerContext) -> Any:
            try:
                if not token:
                    raise Unauthenticated("no caller identity on this call", reason="CALLER_MISSING")
                caller = self._signer.verify(token)
                with acting_as(caller):
                    if key is None or self._idempotency is None:
                        return await behaviour(request, context)
                    return await self._once(method, caller.user_id, key, request, context, behaviour, serialize)
            except DomainError as error:
                await context.abort_with_status(to_status(error))
            except grpc.aio.AbortError:
                raise
            except Exception:
                span_context = trace.get_current_span().get_span_context()
                log.exception("unexpected error in %s (trace %032x)", method, span_context.trace_id)
                await context.abort(grpc.StatusCode.INTERNAL, "internal error; see the service log")

        return grpc.unary_unary_rpc_method_handler(
            guarded,
            request_deserializer=handler.request_deserializer,
            # A replayed response is already serialized.
            response_serializer=lambda r: r if isinstance(r, bytes) else serialize(r),
        )

    def _caller(self, token: str) -> Caller:
        if not token:
            raise Unauthenticated("no caller identity on this call", reason="CALLER_MISSING")
        return self._signer.verify(token)

    async def _fail(self, error: Exception, method: str, context: grpc.aio.ServicerContext) -> None:
        """Ends a failed call (called in its ``except`` block): a domain error as its rich status,
        anything else as INTERNAL, logged."""
        if isinstance(error, DomainError):
            await context.abort_with_status(to_status(error))
        if isinstance(error, grpc.aio.AbortError):
            raise error
        span_context = trace.get_current_span().get_span_context()
        log.exception("unexpected error in %s (trace %032x)", method, span_context.trace_id)
        await context.abort(grpc.StatusCode.INTERNAL, "internal error; see the service log")

    def _guard_streaming(self, handler: grpc.RpcMethodHandler, method: str, token: str) -> grpc.RpcMethodHandler:
        """The same caller check and error mapping for client-streaming and server-streaming calls.

        Idempotency keys apply to unary commands only (a stream has no single request to hash).
        """
        if handler.stream_unary is not None:
            stream_unary = handler.stream_unary

            async def guarded_stream_unary(request_iterator: Any, context: grpc.aio.ServicerContext) -> Any:
                try:
                    with acting_as(self._caller(token)):
                        return await stream_unary(request_iterator, context)
                except Exception as error:
                    await self._fail(error, method, context)

            return grpc.stream_unary_rpc_method_handler(
                guarded_stream_unary,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            unary_stream = handler.unary_stream

            async def guarded_unary_stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
                try:
                    with acting_as(self._caller(token)):
                        responses = unary_stream(request, context)
                        if inspect.isasyncgen(responses):
                            async for response in responses:
                                yield response
                        else:  # a handler that writes with context.write()
                            await responses
                except Exception as error:
                    await self._fail(error, method, context)

            return grpc.unary_stream_rpc_method_handler(
                guarded_unary_stream,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler

    async def _once(
        self,
        method: str,
        caller_id: str,
        key: str,
        request: Any,
        context: grpc.aio.ServicerContext,
        behaviour: Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]],
        serialize: Callable[[Any], bytes],
    ) -> Any:
        assert self._idempotency is not None
        key = idempotency.check_key(key)
        digest = idempotency.request_hash(request.SerializeToString(deterministic=True))
        stored = await self._idempotency.replay(method=method, caller_id=caller_id, key=key, digest=digest)
        if stored is not None:
            return stored
        with idempotency.serving_key(key):
            response = await behaviour(request, context)
        await self._idempotency.remember(
            method=method, caller_id=caller_id, key=key, digest=digest, response=serialize(response)
        )
        return response


class GrpcServer:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        signer: TokenSigner,
        register: Callable[[grpc.aio.Server], None],
        service_names: Sequence[str],
        idempotency_store: IdempotencyStore | None = None,
    ) -> None:
        self._server = grpc.aio.server(
            interceptors=[aio_server_interceptor(), CallerAndErrorsInterceptor(signer, idempotency_store)],
            options=[("grpc.so_reuseport", 0)],
        )
        register(self._server)
        self.health = health_aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self._server)
        self._service_names = list(service_names)
        reflection.enable_server_reflection(
            [*self._service_names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME],
            self._server,
        )
        self.port = self._server.add_insecure_port(f"{host}:{port}")
        if self.port == 0:
            raise RuntimeError(f"could not bind gRPC port {host}:{port}")

    async def start(self) -> None:
        await self._server.start()

    async def set_serving(self, serving: bool) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in ["", *self._service_names]:
            await self.health.set(name, status)

    async def stop(self, grace_seconds: float) -> None:
        """Refuses new calls, lets in-flight ones finish within the grace period."""
        await self.health.enter_graceful_shutdown()
        await self._server.stop(grace_seconds)
