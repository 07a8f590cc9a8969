"""The FastAPI application: routers, authentication on every API route, problem+json errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

from gateway import openapi, problems
from gateway.auth import current_user
from gateway.backend import Backend
from gateway.idempotency import IdempotencyKeyMiddleware
from gateway.routers import audit, auth, dashboards, field_sync, health, notifications, parties
from gateway.routers.loans import credit_api
from gateway.routers.process_models import process_api
from services.common.bus import EventBus
from services.common.grpc_client import ServiceChannels
from services.common.identity import ServiceIdentity, TokenSigner
from services.common.settings import Settings
from services.common.telemetry import setup_tracing

API_PREFIX = "/api/v1"


def create_app(settings: Settings) -> FastAPI:
    platform = settings.platform
    setup_tracing("gateway", platform.otel_exporter)
    signer = TokenSigner(platform.require_jwt_secret())
    gateway_caller = ServiceIdentity(signer, "gateway")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        channels = ServiceChannels(default_timeout=platform.grpc_deadline_seconds, fallback_caller=gateway_caller)
        bus = EventBus.from_settings(platform, "gateway")
        app.state.backend = Backend(settings, channels)
        app.state.bus = bus
        await bus.connect()
        try:
            yield
        finally:
            await bus.close()
            await channels.close()

    app = FastAPI(
        title="Granary API",
        version="1.0.0",
        description="Credit CRM and loan workflow for rural lenders. Authenticate with "
        "`POST /api/v1/auth/token`, then send `Authorization: Bearer <token>`. Errors are "
        "RFC 9457 problem details.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.signer = signer
    app.state.gateway_caller = gateway_caller
    problems.install(app)
    openapi.install(app)

    app.include_router(health.router)
    open_api = APIRouter(prefix=API_PREFIX)
    open_api.include_router(auth.router)
    open_api.include_router(notifications.public_router)
    app.include_router(open_api)
    # Every other API route is authenticated by default.
    protected = APIRouter(prefix=API_PREFIX, dependencies=[Depends(current_user)])
    # One line per resource router (customer, credit, field-task, notification, process).
    protected.include_router(audit.router)
    protected.include_router(parties.customer_api)
    protected.include_router(notifications.router)
    protected.include_router(process_api)
    protected.include_router(credit_api)
    protected.include_router(field_sync.field_api)
    protected.include_router(dashboards.router)
    app.include_router(protected)

    app.add_middleware(IdempotencyKeyMiddleware)
    FastAPIInstrumentor.instrument_app(app, excluded_urls="healthz,readyz")
    return app

