"""Liveness and readiness for probes and `granary up`."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """Every service answers SERVING on the standard gRPC health service and NATS is connected."""
    state = request.app.state
    checks = await state.backend.health()
    checks["nats"] = "SERVING" if state.bus.is_connected else "NOT_CONNECTED"
    ready = all(value == "SERVING" for value in checks.values())
    return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)
