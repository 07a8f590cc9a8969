"""POST /api/v1/auth/token: OAuth2 password flow against the org directory."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordRequestForm
from granary.v1 import customer_pb2
from pydantic import BaseModel

from services.common.grpc_client import call
from services.common.grpc_errors import RemoteError

router = APIRouter(prefix="/auth", tags=["auth"])


class TokenRead(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


@router.post("/token", response_model=TokenRead)
async def issue_token(request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> TokenRead:
    state = request.app.state
    try:
        reply = await call(
            state.backend.customer.AuthenticateStaff,
            customer_pb2.AuthenticateStaffRequest(username=form.username, password=form.password),
            caller=state.gateway_caller(),
        )
    except RemoteError as exc:
        if exc.status == "UNAUTHENTICATED":
            # One answer for unknown users and wrong passwords alike.
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "invalid username or password",
                headers={"WWW-Authenticate": "Bearer"},
            ) from None
        raise
    staff = reply.staff
    lifetime = state.settings.platform.access_token_minutes * 60
    token = state.signer.issue(
        user_id=staff.id,
        username=staff.username,
        roles=list(staff.roles),
        branch_id=staff.branch_id,
        lifetime_seconds=lifetime,
    )
    return TokenRead(access_token=token, expires_in=lifetime)
