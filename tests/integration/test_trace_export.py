"""Traces leave a served process over OTLP when `GRANARY_OTEL_EXPORTER=otlp`.

A stand-in collector (the OTLP gRPC trace service, as an OpenTelemetry Collector exposes it)
runs in the test; `granary serve customer` is a child process configured only by the
standard `OTEL_EXPORTER_OTLP_*` variables, and a real call to it must arrive as a span.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from granary.v1 import customer_pb2, customer_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from services.common.grpc_client import ServiceChannels, call
from services.common.identity import ServiceIdentity, TokenSigner
from tests.support import eventually, free_port

pytestmark = pytest.mark.integration


class Collector(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self) -> None:
        self.spans: list[tuple[str, str]] = []  # (service.name, span name)

    async def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: grpc.aio.ServicerContext
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        for resource_spans in request.resource_spans:
            attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                self.spans.extend((attributes.get("service.name", ""), s.name) for s in scope_spans.spans)
        return trace_service_pb2.ExportTraceServiceResponse()


async def test_a_served_process_exports_its_spans_to_an_otlp_collector(
    new_database, platform_env: dict[str, str]  # type: ignore[no-untyped-def]
) -> None:
    collector = Collector()
    server = grpc.aio.server()
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(collector, server)
    collector_port = server.add_insecure_port("127.0.0.1:0")
    await server.start()

    url = await new_database()
    port = free_port()
    env = {
        **os.environ,
        "GRANARY_CUSTOMER_DATABASE_URL": url,
        "GRANARY_CUSTOMER_GRPC_PORT": str(port),
        "GRANARY_OTEL_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{collector_port}",
        "OTEL_EXPORTER_OTLP_INSECURE": "true",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
    }
    granary = str(Path(sys.executable).parent / "granary")
    migrated = await asyncio.to_thread(
        subprocess.run, [granary, "migrate", "--service", "customer"], env=env, capture_output=True, text=True
    )
    assert migrated.returncode == 0, migrated.stderr
    process = subprocess.Popen(  # noqa: ASYNC220 - starting a child does not block
        [granary, "serve", "customer"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    signer = TokenSigner(platform_env["GRANARY_JWT_SECRET"])
    channels = ServiceChannels(default_timeout=5, fallback_caller=ServiceIdentity(signer, "test"))
    try:
        stub = channels.stub(f"127.0.0.1:{port}", customer_pb2_grpc.CustomerServiceStub)

        async def answered() -> bool:
            try:
                await call(stub.ListBranches, customer_pb2.ListBranchesRequest())
            except Exception:
                return False
            return True

        await eventually(answered, timeout=30)

        async def exported() -> bool:
            return any(
                service == "granary-customer" and "ListBranches" in name for service, name in collector.spans
            )

        await eventually(exported, timeout=30)
    finally:
        await channels.close()
        process.terminate()
        await asyncio.to_thread(process.wait, 30)
        await server.stop(None)
