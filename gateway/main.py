"""Runs the gateway with uvicorn until SIGTERM."""

from __future__ import annotations

import uvicorn

from gateway.app import create_app
from services.common.settings import Settings


def serve(settings: Settings) -> None:
    gateway = settings.gateway
    uvicorn.run(
        create_app(settings),
        host=gateway.host,
        port=gateway.port,
        log_level=settings.platform.log_level.lower(),
        timeout_graceful_shutdown=int(settings.platform.shutdown_grace_seconds),
        proxy_headers=True,
    )
